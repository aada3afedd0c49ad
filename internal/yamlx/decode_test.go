package yamlx

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// level is a custom scalar with yaml.v3's Unmarshaler, as configuration
// types have.
type level int

func (l *level) UnmarshalYAML(n *yaml.Node) error {
	switch n.Value {
	case "low":
		*l = 1
	case "high":
		*l = 2
	default:
		return fmt.Errorf("level must be low or high, got %q", n.Value)
	}
	return nil
}

type common struct {
	Name string `yaml:"name" yamlx:"required"`
}

type sink struct {
	common  `yaml:",inline"`
	Type    string        `yaml:"type" yamlx:"oneof=file|http"`
	Timeout time.Duration `yaml:"timeout" yamlx:"positive"`
	Retries int           `yaml:"retries" yamlx:"min=0"`
	Level   level         `yaml:"level"`
	Pos     Pos           `yaml:"-" yamlx:"pos"`
}

type config struct {
	Rules   []string          `yaml:"rules"`
	Verbose bool              `yaml:"verbose"`
	Ratio   float64           `yaml:"ratio"`
	Sinks   []sink            `yaml:"sinks"`
	Labels  map[string]string `yaml:"labels"`
	Limit   *uint16           `yaml:"limit"`
	Extra   any               `yaml:"extra"`
}

func decodeString(t *testing.T, src string, v any) []error {
	t.Helper()
	doc, err := Parse("c.yaml", []byte(src), "one document only")
	if err != nil {
		return []error{err}
	}
	d := NewDecoder("c.yaml", []byte(src))
	d.Root = "config"
	d.Decode(doc, v)
	return d.List
}

func TestDecode(t *testing.T) {
	src := `rules: [a, b]
verbose: true
ratio: 0.5
labels: {team: fraud}
limit: 300
extra: {k: [1, "two", null]}
sinks:
  - &s {name: out, type: file, timeout: 2d, retries: 3, level: high}
  - *s
  - {<<: *s, name: third, retries: 0}
`
	var c config
	errs := decodeString(t, src, &c)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := fmt.Sprint(c.Rules, c.Verbose, c.Ratio, c.Labels, *c.Limit, c.Extra); got != "[a b] true 0.5 map[team:fraud] 300 map[k:[1 two <nil>]]" {
		t.Errorf("decoded %s", got)
	}
	if len(c.Sinks) != 3 || c.Sinks[1].Name != "out" || c.Sinks[2].Name != "third" || c.Sinks[2].Type != "file" || c.Sinks[2].Retries != 0 || c.Sinks[0].Timeout != 48*time.Hour || c.Sinks[0].Level != 2 || c.Sinks[0].Retries != 3 {
		t.Errorf("sinks %+v", c.Sinks)
	}
	if p := c.Sinks[0].Pos; p.Line != 8 || p.Col != 5 {
		t.Errorf("position %v, want 8:5 (the anchor)", p)
	}
}

// TestDecodeErrors holds every kind of problem to its message and place;
// all problems of a document are reported.
func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		src  string
		want []string
	}{
		{"rulez: [a]\n", []string{`c.yaml:1:1: unknown key "rulez" in config (allowed: rules, verbose, ratio, sinks, labels, limit, extra)`}},
		{"sinks:\n  - {name: a, typ: file}\n", []string{`c.yaml:2:15: unknown key "typ" in sinks[0] (allowed: name, type, timeout, retries, level)`}},
		{"rules: [a]\nrules: [b]\n", []string{`c.yaml:2:1: key "rules" repeats (first at line 1)`}},
		{"sinks: [{type: file}]\n", []string{`c.yaml:1:9: missing required key "name"`}},
		{"verbose: yes\n", []string{`c.yaml:1:10: verbose must be true or false, got "yes"`}},
		{"ratio: .nan\n", []string{`c.yaml:1:8: ratio must be a number, got ".nan"`}},
		{"limit: 70000\n", []string{`c.yaml:1:8: limit must be an integer from 0 to 65535, got "70000"`}},
		{"sinks: [{name: a, retries: -1}]\n", []string{`c.yaml:1:28: sinks[0].retries must be an integer of at least 0, got "-1"`}},
		{"sinks: [{name: a, timeout: soon}]\n", []string{`c.yaml:1:28: sinks[0].timeout: invalid duration "soon" (use forms like 30s, 10m, 1h30m, 2d, 1w)`}},
		{"sinks: [{name: a, timeout: 0s}]\n", []string{`c.yaml:1:28: sinks[0].timeout must be positive, got "0s"`}},
		{"sinks: [{name: a, type: ftp}]\n", []string{`c.yaml:1:25: sinks[0].type must be one of file, http, got "ftp"`}},
		{"sinks: [{name: a, level: mid}]\n", []string{`c.yaml:1:26: sinks[0].level: level must be low or high, got "mid"`}},
		{"sinks: {name: a}\n", []string{`c.yaml:1:8: sinks must be a list, got a mapping`}},
		{"labels: [a]\n", []string{`c.yaml:1:9: labels must be a mapping, got a list`}},
		{"rules: ~\n", []string{`c.yaml:1:8: rules must be a list, got null`}},
		{"rules: [[a]]\n", []string{`c.yaml:1:9: rules[0] must be a scalar, got a list`}},
		{"- a\n", []string{`c.yaml:1:1: config must be a mapping, got a list`}},
		{"verbose: 1\nratio: x\nrulez: 1\n", []string{
			`c.yaml:1:10: verbose must be true or false, got "1"`,
			`c.yaml:2:8: ratio must be a number, got "x"`,
			`c.yaml:3:1: unknown key "rulez"`,
		}},
	}
	for _, tt := range tests {
		var c config
		errs := decodeString(t, tt.src, &c)
		if len(errs) != len(tt.want) {
			t.Errorf("%q: %d errors, want %d: %v", tt.src, len(errs), len(tt.want), errs)
			continue
		}
		for i, err := range errs {
			first, _, _ := strings.Cut(err.Error(), "\n")
			if !strings.HasPrefix(first, tt.want[i]) {
				t.Errorf("%q:\n got %s\nwant %s", tt.src, first, tt.want[i])
			}
			if !strings.Contains(err.Error(), "^") {
				t.Errorf("%q: no caret in %s", tt.src, err)
			}
		}
	}
}

// bomb builds a document whose aliases expand to 10^levels nodes.
func bomb(levels int) string {
	var b strings.Builder
	b.WriteString("a0: &a0 [x]\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "a%d: &a%d [", i, i)
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*a%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func TestAliasLimits(t *testing.T) {
	for _, tt := range []struct {
		name, src string
		lim       Limits
		want      string
	}{
		{"bomb", bomb(9), Limits{}, "alias expansion stopped: more than 10000 aliases followed"},
		{"nodes", bomb(3), Limits{Aliases: 1 << 20, Nodes: 500, Bytes: 1 << 20}, "more than 500 nodes or 1048576 bytes reached through aliases"},
		{"bytes", "a: &a " + strings.Repeat("x", 1000) + "\nb: [*a, *a, *a]\n", Limits{Aliases: 100, Nodes: 100, Bytes: 2500}, "more than 100 nodes or 2500 bytes"},
		{"cycle", "a: &a [1, *a]\n", Limits{}, "alias *a refers to its own anchor"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse("b.yaml", []byte(tt.src), "one")
			if err != nil {
				t.Fatal(err)
			}
			d := NewDecoder("b.yaml", []byte(tt.src))
			d.Limits = tt.lim
			var v map[string]any
			d.Decode(doc, &v)
			if len(d.List) != 1 || !strings.Contains(d.List[0].Error(), tt.want) {
				t.Fatalf("errors %v, want one with %q", d.List, tt.want)
			}
			// JSON is bounded the same way.
			d = NewDecoder("b.yaml", []byte(tt.src))
			d.Limits = tt.lim
			if _, err := d.JSON(nil, doc); err == nil {
				t.Errorf("JSON of %s succeeded", tt.name)
			}
		})
	}
	// Within the limits aliases expand as written.
	d := NewDecoder("ok.yaml", []byte(bomb(2)))
	doc, _ := Parse("ok.yaml", []byte(bomb(2)), "one")
	b, err := d.JSON(nil, doc)
	if err != nil || strings.Count(string(b), `"x"`) != 1+10+100 {
		t.Errorf("JSON %s, %v", b, err)
	}
}

func TestSyntaxErrorPositions(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unclosed bracket", "id: a\ntitle: b\ntags: [a, b\nmatch: x\n", "x.yaml:3:7: invalid YAML: this [ is never closed"},
		{"unclosed brace", "id: a\nalert: {dedup: 1h\nmatch: x\n", "x.yaml:2:8: invalid YAML: this { is never closed"},
		{"bad indent", "id: a\ntitle: b\nsequence:\n  within: 1m\n  steps:\n    - name: a\n      where: x\n     times: 3\n", "x.yaml:8:6: invalid YAML:"},
		{"unclosed quote", "id: a\ntitle: \"b\nmatch: x\n", "x.yaml:2:8: invalid YAML:"},
		{"tab", "id: a\n\tmatch: x\n", "x.yaml:2:1: invalid YAML:"},
		{"colon in value", "id: a\ntitle: b: c\n", "x.yaml:2:8: invalid YAML:"},
		{"bytes, not characters", "id: a\nt: \"é\": c\n", "x.yaml:2:"},
		{"second document", "id: a\n---\nid: b\n", "x.yaml:2:1: one document only"},
	}
	for _, tt := range tests {
		_, err := Parse("x.yaml", []byte(tt.src), "one document only")
		if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%s: %v\nwant prefix %s", tt.name, err, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), "^") {
			t.Errorf("%s: no caret: %v", tt.name, err)
		}
	}
	if doc, err := Parse("e.yaml", []byte("# nothing\n"), "one"); doc != nil || err != nil {
		t.Errorf("empty file: %v, %v", doc, err)
	}
}

func TestSnippet(t *testing.T) {
	src := []byte("a: 1\n\tb: x\n")
	if got, want := Snippet(src, Pos{Line: 2, Col: 5}), " | \tb: x\n | \t   ^"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := Snippet(src, Pos{Line: 9, Col: 1}); got != "" {
		t.Errorf("beyond the file: %q", got)
	}
}

func TestParseDurationForms(t *testing.T) {
	for _, bad := range []string{"99999999999999w", "1d-1h"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) succeeded", bad)
		}
	}
}

// FuzzDecode holds the parser and the decoder to never panic and never
// run away, whatever the document, with the limits low enough to be hit.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{bomb(9), "a: &a [1, *a]\n", "rules: [a]\nsinks: [{name: x, type: file, timeout: 1s}]\n", "a: [\n", "<<: *x\n"} {
		f.Add([]byte(seed))
	}
	for _, dir := range []string{"../../rules/testdata/bad", "../../rules/testdata/good", "../../examples/fraud/rules"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		doc, err := Parse("f.yaml", src, "one")
		if err != nil || doc == nil {
			return
		}
		d := NewDecoder("f.yaml", src)
		d.Limits = Limits{Aliases: 1000, Nodes: 10_000, Bytes: 1 << 20}
		var c config
		d.Decode(doc, &c)
		var m map[string]any
		d.Decode(doc, &m)
		b, err := NewDecoder("f.yaml", src).JSON(nil, doc)
		if err == nil && len(b) > 64<<20 {
			t.Fatalf("JSON of %d bytes from %d bytes of YAML", len(b), len(src))
		}
		for _, e := range d.List {
			if !strings.HasPrefix(e.Error(), "f.yaml:") {
				t.Fatalf("error without a position: %v", e)
			}
		}
	})
}
