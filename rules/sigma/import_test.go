package sigma

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/mapping"
)

var update = flag.Bool("update", false, "rewrite golden files")

func importTestdata(t *testing.T, mappingName, out string) *Report {
	t.Helper()
	m, err := mapping.Load(mappingName)
	if err != nil {
		t.Fatal(err)
	}
	return Import([]string{"testdata/rules"}, Options{Mapping: m, Output: out})
}

// TestGolden compares the rule files written for testdata/rules with
// testdata/golden/MAPPING/ (go test -update rewrites them).
func TestGolden(t *testing.T) {
	for _, name := range []string{"windows-raw", "windows-evtx", "ecs"} {
		t.Run(name, func(t *testing.T) {
			rep := importTestdata(t, name, "")
			dir := filepath.Join("testdata/golden", name)
			if *update {
				if err := os.RemoveAll(dir); err != nil {
					t.Fatal(err)
				}
			}
			for _, im := range rep.Imported {
				p := filepath.Join(dir, im.Out)
				if *update {
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, im.Text, 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(p)
				if err != nil {
					t.Fatalf("%v (go test -update writes it)", err)
				}
				if string(want) != string(im.Text) {
					t.Errorf("%s differs from %s (go test -update rewrites it):\n%s", im.Source, p, im.Text)
				}
			}
		})
	}
}

// TestImportedRulesLoad loads what every mapping writes: no errors.
func TestImportedRulesLoad(t *testing.T) {
	for _, name := range []string{"windows-raw", "windows-evtx", "ecs"} {
		out := t.TempDir()
		rep := importTestdata(t, name, out)
		c, err := rules.NewCompiler(rules.Options{})
		if err != nil {
			t.Fatal(err)
		}
		set := c.Load(out)
		if len(set.Errors) > 0 {
			t.Errorf("%s: %v", name, set.Errors)
		}
		if len(set.Rules) != len(rep.Imported) {
			t.Errorf("%s: %d of %d load", name, len(set.Rules), len(rep.Imported))
		}
	}
}

func TestRefusals(t *testing.T) {
	rep := importTestdata(t, "windows-raw", "")
	var got []string
	for _, r := range rep.Refused {
		got = append(got, filepath.Base(r.Source)+": "+r.Reason)
	}
	want := []string{"refused.yml: aggregation in condition (Sigma 1.0)"}
	if !slices.Equal(got, want) {
		t.Errorf("refused %v, want %v", got, want)
	}
	for _, c := range []struct{ name, src, reason string }{
		{"unknown modifier", "title: t\nlogsource: {product: windows}\ndetection:\n  s:\n    A|bogus: x\n  condition: s\n", "unknown modifier"},
		{"expand", "title: t\nlogsource: {product: windows}\ndetection:\n  s:\n    A|expand: '%x%'\n  condition: s\n", "placeholder (expand)"},
		{"bad regex", "title: t\nlogsource: {product: windows}\ndetection:\n  s:\n    A|re: '(?<=x)y'\n  condition: s\n", "regex RE2 cannot run"},
		{"no condition", "title: t\nlogsource: {product: windows}\ndetection:\n  s:\n    A: x\n", "no condition"},
		{"unknown identifier", "title: t\nlogsource: {product: windows}\ndetection:\n  s:\n    A: x\n  condition: s and t\n", "malformed condition"},
		{"near", "title: t\nlogsource: {product: windows}\ndetection:\n  s:\n    A: x\n  condition: s near t\n", "aggregation in condition (Sigma 1.0)"},
		{"unsupported", "title: t\nstatus: unsupported\nlogsource: {product: windows}\ndetection:\n  s:\n    A: x\n  condition: s\n", "status unsupported"},
		{"collection", "title: t\naction: global\nlogsource: {product: windows}\n", "rule collection (action: global)"},
		{"timeframe", "title: t\nlogsource: {product: windows}\ndetection:\n  s:\n    A: x\n  timeframe: 5m\n  condition: s\n", "timeframe (Sigma 1.0 aggregation)"},
		{"field not in variant", "title: t\nlogsource: {product: windows, category: process_creation}\ndetection:\n  s:\n    Hashes|contains: x\n  f:\n    NoSuchFieldIn4688: y\n  condition: s\n", ""},
		{"utf16 alone", "title: t\nlogsource: {product: windows}\ndetection:\n  s:\n    A|wide: x\n  condition: s\n", "utf16 without base64"},
		{"correlation type", "title: t\ncorrelation:\n  type: value_sum\n  rules: [x]\n  timespan: 1h\n", "unsupported correlation type"},
		{"correlated rule missing", "title: t\ncorrelation:\n  type: event_count\n  rules: [nothere]\n  timespan: 1h\n  condition: {gte: 2}\n", "correlated rule not found"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "r.yml"), []byte(c.src), 0o644); err != nil {
				t.Fatal(err)
			}
			m, _ := mapping.Load("windows-raw")
			rep := Import([]string{dir}, Options{Mapping: m})
			switch {
			case c.reason == "" && len(rep.Refused) > 0:
				t.Errorf("refused: %v", rep.Refused[0].Refusal)
			case c.reason != "" && (len(rep.Refused) != 1 || rep.Refused[0].Reason != c.reason):
				var got []string
				for _, r := range rep.Refused {
					got = append(got, r.Error())
				}
				t.Errorf("refused %v, want reason %q", got, c.reason)
			}
		})
	}
}

// TestVariantsLeftOut: a rule that needs a field Security 4688 lacks
// reads Sysmon only; one testing shared fields reads both, and a filter on
// a field 4688 lacks is false there, as for any missing field.
func TestVariantsLeftOut(t *testing.T) {
	m, _ := mapping.Load("windows-raw")
	for _, c := range []struct {
		src      string
		variants []string
	}{
		{"title: t\nlogsource: {product: windows, category: process_creation}\ndetection:\n  s:\n    OriginalFileName: x.exe\n  condition: s\n", []string{"Sysmon"}},
		{"title: t\nlogsource: {product: windows, category: process_creation}\ndetection:\n  s:\n    Image|endswith: x.exe\n  condition: s\n", []string{"Sysmon", "Security"}},
		{"title: t\nlogsource: {product: windows, category: process_creation}\ndetection:\n  s:\n    Image|endswith: x.exe\n  f:\n    OriginalFileName: y\n  condition: s and not f\n", []string{"Sysmon", "Security"}},
	} {
		rs, err := Parse("r.yml", []byte(c.src))
		if err != nil {
			t.Fatal(err)
		}
		expr, _, ref := matchCEL(rs[0], m)
		if ref != nil {
			t.Fatal(ref)
		}
		for _, v := range []string{"Sysmon", "Security"} {
			if strings.Contains(expr, v) != slices.Contains(c.variants, v) {
				t.Errorf("%s: variant %s: %v in\n%s", c.src, v, !slices.Contains(c.variants, v), expr)
			}
		}
		if slices.Contains(c.variants, "Security") && !strings.Contains(expr, "event.NewProcessName.iendsWith") {
			t.Errorf("4688 reads NewProcessName: %s", expr)
		}
	}
}

func TestCondition(t *testing.T) {
	ids := []string{"sel_a", "sel_b", "filter_x", "_hidden", "keywords"}
	for _, c := range []struct{ in, want string }{
		{"sel_a", "sel_a"},
		{"sel_a and not filter_x", "(and sel_a (not filter_x))"},
		{"sel_a or sel_b and filter_x", "(or sel_a (and sel_b filter_x))"},
		{"(sel_a or sel_b) and filter_x", "(and (or sel_a sel_b) filter_x)"},
		{"1 of sel_*", "(or sel_a sel_b)"},
		{"all of sel_* and not 1 of filter_*", "(and (and sel_a sel_b) (not filter_x))"},
		{"1 of them", "(or sel_a sel_b filter_x keywords)"},
		{"all of them", "(and sel_a sel_b filter_x keywords)"},
		{"not not keywords", "(not (not keywords))"},
		{"NOT sel_a AND sel_b", "(and (not sel_a) sel_b)"},
	} {
		got, ref := parseCondition(c.in, ids)
		if ref != nil {
			t.Errorf("%s: %v", c.in, ref)
			continue
		}
		if s := condString(got); s != c.want {
			t.Errorf("%s: %s, want %s", c.in, s, c.want)
		}
	}
	for _, bad := range []string{"", "sel_a and", "(sel_a", "sel_a )", "1 of nothing_*", "sel_a | count() > 5", "unknown"} {
		if _, ref := parseCondition(bad, ids); ref == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func condString(c *cond) string {
	if c.op == "id" {
		return c.id
	}
	parts := []string{c.op}
	for _, a := range c.args {
		parts = append(parts, condString(a))
	}
	return "(" + strings.Join(parts, " ") + ")"
}

func TestWindash(t *testing.T) {
	got, ok := windash(" -enc ")
	if !ok || len(got) != 5 || !slices.Contains(got, " /enc ") || !slices.Contains(got, " \u2013enc ") {
		t.Errorf("windash: %q", got)
	}
	got, _ = windash("a-b")
	if len(got) != 1 {
		t.Errorf("a dash inside a word is no option: %q", got)
	}
	got, _ = windash("-a -b")
	if len(got) != 25 {
		t.Errorf("two options: %d variants", len(got))
	}
	if _, ok := windash("-a -b -c -d -e"); ok {
		t.Error("five options expand to 3125 values")
	}
}

// Base64 offsets: the Sigma specification's own example.
func TestBase64Offset(t *testing.T) {
	got := base64Offsets([]byte("/bin/bash"))
	want := []string{"L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if w := base64Offsets(utf16Bytes("IEX", false)); !slices.Contains(w, "SQBFAFgA") {
		t.Errorf("utf16le IEX: %q", w)
	}
}

func TestCELStrings(t *testing.T) {
	for in, want := range map[string]string{
		`C:\Windows`:  `r"C:\Windows"`,
		`say "hi" \x`: `r'say "hi" \x'`,
		`a"b'\c`:      `"a\"b'\\c"`,
		"tab\there":   `"tab\there"`,
		"plain":       `"plain"`,
	} {
		if got := celString(in); got != want {
			t.Errorf("celString(%q) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"Image":           "event.Image",
		"a.b":             "event.a.b",
		"cs-uri":          `event["cs-uri"]`,
		"Event.System.in": `event.Event.System["in"]`,
		"EventID.#text":   `event.EventID["#text"]`,
	} {
		if got := celPath(in); got != want {
			t.Errorf("celPath(%q) = %s, want %s", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/rules/*.yml")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("a: &a [*a, *a]\nb: [*a, *a, *a]\n"))
	m, err := mapping.Load("windows-raw")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		rules, err := Parse("f.yml", src)
		if err != nil {
			return
		}
		for _, r := range rules {
			if r.Refused != nil || r.Correlation != nil {
				continue
			}
			// The translation never panics; what it writes is checked
			// elsewhere.
			_, _, _ = matchCEL(r, m)
		}
	})
}
