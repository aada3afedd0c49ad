// Package format renders alerts in the wire formats SIEMs read: the alert
// contract as JSON, Elastic Common Schema, OCSF Detection Finding, ArcSight
// CEF and QRadar LEEF. Every format registers itself by name (as sink
// transports do), so that a new one is one file with a constructor.
//
// The shapes the JSON formats share — the alert's key, fields, evidence
// and the cep.* block of ECS and OCSF — are written once, in members.go,
// and the CEF and LEEF escapers are one table-driven escaper (escape.go).
package format

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/internal/jsonx"
)

// The built-in format names, as in a sink's `format:` key.
const (
	JSON = "json"
	ECS  = "ecs"
	OCSF = "ocsf"
	CEF  = "cef"
	LEEF = "leef"
)

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

// Options are what a format may take from a sink's configuration. A format
// reads the options it knows and ignores the rest.
type Options struct {
	Product Product
	// LEEFDelimiter is LEEF 2.0's attribute delimiter: one character or
	// xHH; empty means DefaultLEEFDelimiter.
	LEEFDelimiter string
	// FieldNames, when set, rewrites the member names a JSON format takes
	// from the alert (its fields, key expressions and evidence events)
	// into names the destination accepts.
	FieldNames jsonx.Names
}

// Kind is a registered format.
type Kind struct {
	Name string
	// JSON tells whether the format writes JSON objects.
	JSON bool
	// New builds the formatter for opts; it reports bad options.
	New func(opts Options) (Formatter, error)
}

var (
	regMu sync.RWMutex
	reg   = map[string]Kind{}
)

// Register makes a format available under k.Name. It panics on a second
// registration of a name, which is a programming error found at start.
func Register(k Kind) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := reg[k.Name]; dup {
		panic("format: " + k.Name + " registered twice")
	}
	reg[k.Name] = k
}

// Lookup returns the format registered as name.
func Lookup(name string) (Kind, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	k, ok := reg[name]
	return k, ok
}

// Names lists the registered formats, built-in ones first in their
// documented order.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	out := []string{}
	for _, n := range []string{JSON, ECS, OCSF, CEF, LEEF, Text} {
		if _, ok := reg[n]; ok {
			out = append(out, n)
		}
	}
	var more []string
	for n := range reg {
		if !slices.Contains(out, n) {
			more = append(more, n)
		}
	}
	slices.Sort(more)
	return append(out, more...)
}

// New returns the formatter registered as name ("" means json).
func New(name string, opts Options) (Formatter, error) {
	if name == "" {
		name = JSON
	}
	k, ok := Lookup(name)
	if !ok {
		return nil, fmt.Errorf("unknown format %q (want one of %s)", name, strings.Join(Names(), ", "))
	}
	opts.Product = opts.Product.withDefaults()
	return k.New(opts)
}

// bySeverity looks a severity up in a table ordered info … critical; an
// unknown severity gets the zero value.
func bySeverity[T any](s alert.Severity, table *[5]T) T {
	if r := s.Rank(); r >= 0 && r < len(table) {
		return table[r]
	}
	var zero T
	return zero
}

// severityNumber maps a severity to 0–10, the scale of CEF and LEEF.
func severityNumber(s alert.Severity) int { return bySeverity(s, &[5]int{1, 3, 5, 8, 10}) }

func appendMillis(dst []byte, a *alert.Alert) []byte {
	return strconv.AppendInt(dst, a.Time.UnixMilli(), 10)
}
