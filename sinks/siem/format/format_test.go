package format

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/sinks/siem/sinktest"
)

func TestFormatsGolden(t *testing.T) {
	alerts := sinktest.SampleAlerts(t)
	p := Product{Version: "1.0.0"}
	for _, format := range Names() {
		for _, delim := range []string{"", "x09"} {
			if delim != "" && format != LEEF {
				continue
			}
			f, err := New(format, Options{Product: p, LEEFDelimiter: delim})
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range slices.Sorted(maps.Keys(alerts)) {
				suffix := format
				if delim != "" {
					suffix += "-tab"
				}
				t.Run(name+"."+suffix, func(t *testing.T) {
					out, err := f.Append(nil, alerts[name])
					if err != nil {
						t.Fatal(err)
					}
					if !utf8.Valid(out) {
						t.Fatalf("not UTF-8: %q", out)
					}
					if f.JSON() && !json.Valid(out) {
						t.Fatalf("invalid JSON: %s", out)
					}
					if !f.JSON() && bytes.ContainsAny(out, "\r\n") {
						t.Fatalf("line break in a one-line format: %q", out)
					}
					sinktest.Golden(t, name+"."+suffix+".golden", append(out, '\n'))
				})
			}
		}
	}
}

// The JSON format is the alert contract (docs/ARCHITECTURE.md, "Contracts"): byte for byte what
// encoding/json makes of the alert — except that bytes of an evidence line
// that are not UTF-8, which encoding/json copies into its output, are
// written as U+FFFD, so the document is valid UTF-8 and reads back the
// same.
func TestJSONFormatMatchesEncodingJSON(t *testing.T) {
	for name, a := range sinktest.SampleAlerts(t) {
		want, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		got, err := jsonFormat{}.Append(nil, a)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(want) {
			var w, g any
			if json.Unmarshal(want, &w) != nil || json.Unmarshal(got, &g) != nil || !reflect.DeepEqual(w, g) || !utf8.Valid(got) {
				t.Errorf("%s: does not read back as encoding/json's:\n got %s\nwant %q", name, got, want)
			}
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
}

// Evidence lines with bytes that are not UTF-8 make every JSON format
// valid UTF-8 JSON all the same (RFC 8259 §8.1).
func TestJSONFormatsWriteValidUTF8(t *testing.T) {
	a := sinktest.SampleAlerts(t)["hostile"]
	for _, name := range Names() {
		f, _ := New(name, Options{})
		out, err := f.Append(nil, a)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(out) {
			t.Errorf("%s: not UTF-8: %q", name, out)
		}
		if f.JSON() && !json.Valid(out) {
			t.Errorf("%s: not JSON: %s", name, out)
		}
	}
}

// parseCEF splits a CEF line as a consumer would: seven header fields with
// \| and \\ escapes, then key=value pairs where a key is the word before an
// unescaped '='.
func parseCEF(tb testing.TB, line string) (header []string, ext map[string]string) {
	tb.Helper()
	header, rest := splitHeader(line, 7)
	return header, parseExtension(tb, rest, ' ')
}

// splitHeader reads n pipe-separated header fields with \| and \\
// escapes and returns them and the rest of the line.
func splitHeader(line string, n int) ([]string, string) {
	var header []string
	var cur strings.Builder
	i := 0
	for ; i < len(line) && len(header) < n; i++ {
		switch c := line[i]; {
		case c == '\\' && i+1 < len(line):
			i++
			cur.WriteByte(line[i])
		case c == '|':
			header = append(header, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return header, line[i:]
}

func parseExtension(tb testing.TB, s string, delim byte) map[string]string {
	tb.Helper()
	ext := map[string]string{}
	// Find each unescaped '='; the key is the token before it.
	type kv struct{ key, val string }
	var pairs []kv
	var val strings.Builder
	key := ""
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			switch s[i] {
			case 'n':
				val.WriteByte('\n')
			case 'r':
				val.WriteByte('\r')
			default:
				val.WriteByte(s[i])
			}
		case c == '=':
			// The key is the text since the last delimiter.
			v := val.String()
			k := v
			if j := strings.LastIndexByte(v, delim); j >= 0 {
				k = v[j+1:]
				if key != "" {
					pairs = append(pairs, kv{key, v[:j]})
				}
			} else if key != "" {
				tb.Fatalf("no delimiter before key in %q", s)
			}
			key = k
			val.Reset()
		default:
			val.WriteByte(c)
		}
	}
	if key != "" {
		pairs = append(pairs, kv{key, val.String()})
	}
	for _, p := range pairs {
		ext[p.key] = p.val
	}
	return ext
}

func TestCEFRoundTripsHostileValues(t *testing.T) {
	a := sinktest.SampleAlerts(t)["hostile"]
	out, err := newCEF(DefaultProduct).Append(nil, a)
	if err != nil {
		t.Fatal(err)
	}
	header, ext := parseCEF(t, string(out))
	if len(header) != 7 {
		t.Fatalf("header %q", header)
	}
	// A header cannot span lines: the title's line breaks are spaces
	// there, and msg carries the title whole.
	if header[4] != a.Rule || header[5] != strings.NewReplacer("\n", " ", "\r", " ").Replace(a.Title) || header[6] != "10" {
		t.Fatalf("header %q", header)
	}
	if ext["msg"] != a.Title {
		t.Fatalf("msg %q, want the title %q", ext["msg"], a.Title)
	}
	if ext["externalId"] != a.ID || ext["cs1"] != a.RuleVersion {
		t.Fatalf("extension %q", ext)
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(ext["cs4"]), &fields); err != nil || fields["msg"] != a.Fields["msg"] {
		t.Fatalf("cs4 %q: %v", ext["cs4"], err)
	}
	// Lists are JSON arrays: an item holding a comma stays one item.
	var tags, reasons []string
	var evidence []*string
	if err := json.Unmarshal([]byte(ext["cs3"]), &tags); err != nil || !slices.Equal(tags, a.Tags) {
		t.Fatalf("cs3 %q: %v", ext["cs3"], err)
	}
	if err := json.Unmarshal([]byte(ext["reason"]), &reasons); err != nil || !slices.Equal(reasons, a.Reasons) {
		t.Fatalf("reason %q: %v", ext["reason"], err)
	}
	if err := json.Unmarshal([]byte(ext["cs5"]), &evidence); err != nil || len(evidence) != 3 || *evidence[0] != "e|1" || evidence[1] != nil || *evidence[2] != "e,3" {
		t.Fatalf("cs5 %q: %v", ext["cs5"], err)
	}
}

// leefReplacements undo what the LEEF writer does so that a value never
// holds a separator: IBM's guide asks to keep tab, '|' and '^' out of
// values, LEEF defines no escaping, and a LEEF line holds no line break.
// A printable separator becomes its fullwidth form, a control one its
// Control Pictures symbol.
var leefReplacements = strings.NewReplacer("｜", "|", "＾", "^", "␉", "\t", "␊", "\n", "␍", "\r", "～", "~", "␠", " ")

// LEEF values are split on the delimiter with no escapes, as a LEEF reader
// does: no value may add an attribute, whatever the delimiter.
func TestLEEFRoundTripsHostileValues(t *testing.T) {
	a := sinktest.SampleAlerts(t)["hostile"]
	for _, d := range []string{"^", "x09", "~", "x20", "|", ",", "a", ":", "=", "x0A"} {
		delim, err := ParseLEEFDelimiter(d)
		switch d {
		case "|", ",", "a", ":", "=", "x0A":
			if err == nil {
				t.Errorf("%q accepted as a delimiter", d)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		out, err := newLEEF(DefaultProduct, delim).Append(nil, a)
		if err != nil {
			t.Fatal(err)
		}
		header, attrs := parseLEEF(t, string(out))
		if len(header) != 6 || header[0] != "LEEF:2.0" || leefReplacements.Replace(header[4]) != a.Rule || header[5] != leefDelimiterField(delim) {
			t.Fatalf("delimiter %q: header %q", d, header)
		}
		for k, v := range attrs {
			if strings.ContainsAny(v, "|^\t\r\n"+string(delim)) {
				t.Errorf("delimiter %q: %s=%q holds a separator", d, k, v)
			}
		}
		if leefReplacements.Replace(attrs["title"]) != a.Title || leefReplacements.Replace(attrs["alertId"]) != a.ID {
			t.Errorf("delimiter %q: title %q, id %q", d, attrs["title"], attrs["alertId"])
		}
		var tags []string
		if err := json.Unmarshal([]byte(leefReplacements.Replace(attrs["tags"])), &tags); err != nil || !slices.Equal(tags, a.Tags) {
			t.Errorf("delimiter %q: tags %q: %v", d, attrs["tags"], err)
		}
		var fields map[string]any
		if err := json.Unmarshal([]byte(leefReplacements.Replace(attrs["fields"])), &fields); err != nil || fields["msg"] != a.Fields["msg"] {
			t.Errorf("delimiter %q: fields %q: %v", d, attrs["fields"], err)
		}
		want := []string{"alertId", "cat", "devTime", "devTimeFormat", "evidence", "fields", "key", "priority", "reason", "ruleVersion", "sev", "tags", "title"}
		if got := slices.Sorted(maps.Keys(attrs)); !slices.Equal(got, want) {
			t.Errorf("delimiter %q: attributes %q, want %q", d, got, want)
		}
	}
}

func leefDelimiterField(d byte) string {
	if d > ' ' && d < 0x7f {
		return string(d)
	}
	return fmt.Sprintf("x%02X", d)
}

// parseLEEF reads a LEEF 2.0 line as QRadar does: six pipe-separated
// header fields, the delimiter taken from the sixth, then attributes split
// at every delimiter and each at its first '='. There are no escapes.
func parseLEEF(tb testing.TB, line string) (header []string, attrs map[string]string) {
	tb.Helper()
	header = strings.SplitN(line, "|", 7)
	if len(header) != 7 {
		tb.Fatalf("LEEF header %q", line)
	}
	rest := header[6]
	header = header[:6]
	d := header[5]
	if len(d) == 3 && d[0] == 'x' {
		var b byte
		fmt.Sscanf(d[1:], "%02X", &b)
		d = string(b)
	}
	attrs = map[string]string{}
	for _, kv := range strings.Split(rest, d) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			tb.Fatalf("attribute without '=': %q in %q", kv, line)
		}
		if _, dup := attrs[k]; dup {
			tb.Fatalf("attribute %s twice in %q", k, line)
		}
		attrs[k] = v
	}
	return header, attrs
}

func TestOCSFRequiredAttributes(t *testing.T) {
	f := ocsfFormat{document{product: DefaultProduct}}
	for name, a := range sinktest.SampleAlerts(t) {
		out, err := f.Append(nil, a)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(out, &doc); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"activity_id", "category_uid", "class_uid", "metadata.product", "metadata.version", "severity_id", "time", "type_uid", "finding_info.uid", "finding_info.title", "evidences"} {
			if _, ok := lookupPath(doc, path); !ok {
				t.Errorf("%s: %s missing", name, path)
			}
		}
		if doc["class_uid"] != 2004.0 || doc["type_uid"] != 200401.0 || doc["category_uid"] != 2.0 {
			t.Errorf("%s: class %v type %v", name, doc["class_uid"], doc["type_uid"])
		}
	}
}

func TestECSThreatFromAttackTags(t *testing.T) {
	out, err := ecsFormat{document{product: DefaultProduct}}.Append(nil, sinktest.SampleAlerts(t)["basic"])
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	ids, _ := lookupPath(doc, "threat.technique.id")
	sub, _ := lookupPath(doc, "threat.technique.subtechnique.id")
	tac, _ := lookupPath(doc, "threat.tactic.id")
	kind, _ := lookupPath(doc, "event.kind")
	if !slices.Equal(toStrings(ids), []string{"T1110", "T1078"}) || !slices.Equal(toStrings(sub), []string{"T1110.001"}) ||
		!slices.Equal(toStrings(tac), []string{"TA0006"}) || kind != "alert" {
		t.Fatalf("threat %v %v %v kind %v", ids, sub, tac, kind)
	}
}

func TestParseAttack(t *testing.T) {
	tests := []struct {
		tags              []string
		tactics, tech, st []string
	}{
		{[]string{"fraud"}, nil, nil, nil},
		{[]string{"attack.T1110", "ATTACK.t1110.003", "attack.ta0001", "attack.lateral-movement", "attack.t11", "attack.ta9999"},
			[]string{"TA0001", "TA0008", "TA9999"}, []string{"T1110"}, []string{"T1110.003"}},
	}
	for _, tc := range tests {
		at, _ := parseAttack(tc.tags)
		var tactics []string
		for _, x := range at.tactics {
			tactics = append(tactics, x.id)
		}
		if !slices.Equal(tactics, tc.tactics) || !slices.Equal(at.techniques, tc.tech) || !slices.Equal(at.subtechniques, tc.st) {
			t.Errorf("%v: got %v %v %v", tc.tags, tactics, at.techniques, at.subtechniques)
		}
	}
}

func lookupPath(doc map[string]any, path string) (any, bool) {
	var cur any = doc
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func toStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestFormatErrors(t *testing.T) {
	a := &alert.Alert{ID: "x", Fields: map[string]any{"nan": func() float64 { z := 0.0; return z / z }()}}
	for _, name := range Names() {
		f, _ := New(name, Options{})
		if _, err := f.Append(nil, a); err == nil {
			t.Errorf("%s: NaN accepted", name)
		}
	}
	if _, err := New("xml", Options{}); err == nil {
		t.Error("unknown format accepted")
	}
}

// FuzzCEFValue checks the escapers against a byte-at-a-time reference.
func FuzzCEFValue(f *testing.F) {
	for _, s := range []string{"", "plain text here", "a=b\\c\nd\re|f", "ünï=cödé 12345678", "\xff\xfe", "a long plain prefix of JSON text then = and ^ and | and \\"} {
		f.Add(s)
	}
	l := newLEEF(DefaultProduct, '^')
	f.Fuzz(func(t *testing.T, s string) {
		var cef, leef strings.Builder
		for _, r := range s { // one U+FFFD per invalid byte, as range yields
			switch r {
			case '\\', '=':
				cef.WriteString("\\" + string(r))
			case '\n':
				cef.WriteString(`\n`)
			case '\r':
				cef.WriteString(`\r`)
			default:
				cef.WriteRune(r)
			}
			switch r {
			case '|', '^':
				leef.WriteRune(r - 0x21 + 0xFF01)
			case '\t', '\n', '\r':
				leef.WriteRune(r + 0x2400)
			default:
				leef.WriteRune(r)
			}
		}
		if got := string(cefValue.append(nil, s)); got != cef.String() {
			t.Fatalf("cef %q: got %q, want %q", s, got, cef.String())
		}
		if got := string(l.val.append(nil, s)); got != leef.String() {
			t.Fatalf("leef %q: got %q, want %q", s, got, leef.String())
		}
		// Text written by another appender (valid UTF-8, no control
		// bytes) is escaped in place to the same result.
		if utf8.ValidString(s) && !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 }) {
			for _, e := range []*escaper{cefValue, l.val, cefHeader} {
				in := append([]byte("prefix="), s...)
				if got, want := string(e.escapeTail(in, 7)), "prefix="+string(e.append(nil, s)); got != want {
					t.Fatalf("escapeTail %q: got %q, want %q", s, got, want)
				}
			}
		}
	})
}
