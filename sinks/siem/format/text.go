package format

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/internal/jsonx"
)

// Text is the format for a person at a terminal: one line per alert.
const Text = "text"

func init() {
	Register(Kind{Name: Text, New: func(Options) (Formatter, error) { return textFormat{}, nil }})
}

// textFormat writes `time severity rule key… title field=value…`. Values
// are quoted when they hold a space, a quote, '=' or a control character,
// so one alert is always one line and splits back at spaces.
type textFormat struct{}

func (textFormat) Name() string { return Text }
func (textFormat) JSON() bool   { return false }

func (textFormat) Append(dst []byte, a *alert.Alert) ([]byte, error) {
	var err error
	dst = a.Time.UTC().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
	dst = append(dst, ' ')
	dst = append(dst, fmt.Sprintf("%-8s", strings.ToUpper(string(a.Severity)))...)
	dst = append(dst, ' ')
	dst = appendTextWord(dst, a.Rule)
	for _, p := range a.Key {
		dst = append(dst, ' ')
		dst = appendTextWord(dst, strings.TrimPrefix(p.Expr, "event."))
		dst = append(dst, '=')
		if dst, err = appendTextValue(dst, p.Value); err != nil {
			return dst, err
		}
	}
	dst = append(dst, " | "...)
	dst = appendTextWord(dst, a.Title)
	names := make([]string, 0, len(a.Fields))
	for n := range a.Fields {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		dst = append(dst, ' ')
		dst = appendTextWord(dst, n)
		dst = append(dst, '=')
		if dst, err = appendTextValue(dst, a.Fields[n]); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// appendTextValue writes v as the JSON formats would (a NaN is refused
// by all formats alike), strings bare where they can be.
func appendTextValue(dst []byte, v any) ([]byte, error) {
	if s, ok := v.(string); ok {
		return appendTextWord(dst, s), nil
	}
	return jsonx.AppendAny(dst, v)
}

// appendTextWord writes s bare when it is plain, else Go-quoted (which
// escapes control characters and invalid UTF-8).
func appendTextWord(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, `""`...)
	}
	for _, r := range s {
		if r == ' ' || r == '"' || r == '=' || r == utf8.RuneError || !unicode.IsPrint(r) {
			return strconv.AppendQuote(dst, s)
		}
	}
	return append(dst, s...)
}
