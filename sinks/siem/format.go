package siem

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/cep-project/cep/alert"
)

// The formats a sink can write, as named in Config.Format.
const (
	FormatJSON = "json"
	FormatECS  = "ecs"
	FormatOCSF = "ocsf"
	FormatCEF  = "cef"
	FormatLEEF = "leef"
)

// Formats lists the format names.
var Formats = []string{FormatJSON, FormatECS, FormatOCSF, FormatCEF, FormatLEEF}

// Formatter renders an alert in one wire format. Append must not retain
// dst or a; implementations are stateless and safe for concurrent use.
type Formatter interface {
	Name() string
	// JSON reports whether the output is a JSON object, which transports
	// that embed documents (HEC, Elasticsearch) need to know.
	JSON() bool
	Append(dst []byte, a *alert.Alert) ([]byte, error)
}

// Product identifies cep in formats that name the sending product (CEF and
// LEEF headers, OCSF metadata, ECS observer).
type Product struct {
	Vendor  string
	Name    string
	Version string
}

// DefaultProduct is used for the fields of Product left empty.
var DefaultProduct = Product{Vendor: "cep-project", Name: "cep", Version: "dev"}

func (p Product) withDefaults() Product {
	if p.Vendor == "" {
		p.Vendor = DefaultProduct.Vendor
	}
	if p.Name == "" {
		p.Name = DefaultProduct.Name
	}
	if p.Version == "" {
		p.Version = DefaultProduct.Version
	}
	return p
}

// NewFormatter returns the formatter called name. delimiter is LEEF's
// attribute delimiter (ignored by the other formats; empty means '^').
func NewFormatter(name string, p Product, delimiter string) (Formatter, error) {
	p = p.withDefaults()
	switch name {
	case FormatJSON, "":
		return jsonFormat{}, nil
	case FormatECS:
		return ecsFormat{product: p}, nil
	case FormatOCSF:
		return ocsfFormat{product: p}, nil
	case FormatCEF:
		return newCEF(p), nil
	case FormatLEEF:
		d, err := parseLEEFDelimiter(delimiter)
		if err != nil {
			return nil, err
		}
		return newLEEF(p, d), nil
	}
	return nil, fmt.Errorf("unknown format %q (want one of %s)", name, strings.Join(Formats, ", "))
}

// severityNumber maps a severity to 0–10, the scale of CEF and LEEF.
func severityNumber(s alert.Severity) int {
	switch s {
	case alert.Info:
		return 1
	case alert.Low:
		return 3
	case alert.Medium:
		return 5
	case alert.High:
		return 8
	case alert.Critical:
		return 10
	}
	return 0
}

func appendMillis(dst []byte, a *alert.Alert) []byte {
	return strconv.AppendInt(dst, a.Time.UnixMilli(), 10)
}
