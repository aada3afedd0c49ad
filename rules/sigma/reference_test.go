package sigma

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules/celenv"
	"github.com/cep-project/cep/rules/mapping"
)

// A reference evaluator of Sigma detections, written from the
// specification and independent of the translation: it matches with Go
// regular expressions built from Sigma's wildcards, and reads events as
// plain JSON. The differential tests hold the imported CEL (through CEL
// and through the fast path) to its answers on generated events.

type refEval struct {
	r  *Rule
	ev map[string]any
}

func (e refEval) field(name string) (any, bool) {
	var cur any = e.ev
	for _, part := range strings.Split(name, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func refText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// sigmaRegexp turns a Sigma value (wildcards, escapes) into a regexp.
func sigmaRegexp(v string, prefixAny, suffixAny, cased bool) *regexp.Regexp {
	var b strings.Builder
	if !cased {
		b.WriteString("(?i)")
	}
	b.WriteString("(?s)^")
	if prefixAny {
		b.WriteString(".*")
	}
	rs := []rune(v)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case c == '\\' && i+1 < len(rs) && strings.ContainsRune(`*?\`, rs[i+1]):
			b.WriteString(regexp.QuoteMeta(string(rs[i+1])))
			i++
		case c == '*':
			b.WriteString(".*")
		case c == '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	if suffixAny {
		b.WriteString(".*")
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

func (e refEval) cond(c *cond) bool {
	switch c.op {
	case "id":
		for _, s := range e.r.Detection {
			if s.Name == c.id {
				return e.search(s)
			}
		}
		panic("no search " + c.id)
	case "not":
		return !e.cond(c.args[0])
	case "and":
		for _, a := range c.args {
			if !e.cond(a) {
				return false
			}
		}
		return true
	}
	for _, a := range c.args {
		if e.cond(a) {
			return true
		}
	}
	return false
}

func (e refEval) search(s *Search) bool {
	if len(s.Keywords) > 0 {
		for _, k := range s.Keywords {
			re := sigmaRegexp(strings.TrimSuffix(strings.TrimPrefix(k.Text(), "*"), "*"), true, true, false)
			if anyValue(e.ev, func(t string) bool { return re.MatchString(t) }) {
				return true
			}
		}
		return false
	}
	for _, sel := range s.Any {
		all := true
		for _, ft := range sel {
			if !e.fieldTest(ft) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func anyValue(v any, f func(string) bool) bool {
	switch x := v.(type) {
	case map[string]any:
		for _, y := range x {
			if anyValue(y, f) {
				return true
			}
		}
	case []any:
		for _, y := range x {
			if anyValue(y, f) {
				return true
			}
		}
	default:
		if t, ok := refText(x); ok && x != nil {
			return f(t)
		}
	}
	return false
}

func (e refEval) fieldTest(ft FieldTest) bool {
	mods := map[string]bool{}
	for _, m := range ft.Modifiers {
		mods[m] = true
	}
	if ft.Field == "" {
		return e.search(&Search{Keywords: ft.Values})
	}
	fv, present := e.field(ft.Field)
	one := func(v Value) bool {
		switch {
		case mods["exists"]:
			return present == v.B
		case v.Kind == 'z':
			return !present || fv == nil
		}
		if !present {
			return false
		}
		text, ok := refText(fv)
		if !ok {
			return false
		}
		switch {
		case mods["fieldref"]:
			o, ok := e.field(v.Text())
			ot, ok2 := refText(o)
			return ok && ok2 && strings.EqualFold(text, ot)
		case mods["gt"], mods["gte"], mods["lt"], mods["lte"]:
			var n float64
			switch x := fv.(type) {
			case float64:
				n = x
			case string:
				var err error
				if n, err = strconv.ParseFloat(x, 64); err != nil || strconv.FormatFloat(n, 'f', -1, 64) != x {
					return false
				}
			default:
				return false
			}
			w, _ := strconv.ParseFloat(v.Text(), 64)
			switch {
			case mods["gt"]:
				return n > w
			case mods["gte"]:
				return n >= w
			case mods["lt"]:
				return n < w
			}
			return n <= w
		case mods["cidr"]:
			p, err1 := netip.ParsePrefix(v.Text())
			a, err2 := netip.ParseAddr(text)
			return err1 == nil && err2 == nil && p.Contains(a)
		case mods["re"]:
			flags := ""
			for _, f := range []string{"i", "m", "s"} {
				if mods[f] {
					flags += f
				}
			}
			pat := v.Text()
			if flags != "" {
				pat = "(?" + flags + ")" + pat
			}
			return regexp.MustCompile(pat).MatchString(text)
		}
		if v.Kind == 'n' && !mods["contains"] && !mods["startswith"] && !mods["endswith"] {
			return strings.EqualFold(text, v.Text())
		}
		vals := []string{v.Text()}
		if mods["windash"] || mods["base64"] || mods["base64offset"] {
			ex, ref := expand(v.Text(), ft, mods)
			if ref != nil {
				return false
			}
			vals = vals[:0]
			for _, x := range ex {
				s := x.s
				if !x.wild {
					s = strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`).Replace(s)
				}
				vals = append(vals, s)
			}
		}
		contains := mods["contains"] || mods["base64offset"]
		for _, s := range vals {
			if sigmaRegexp(s, contains || mods["endswith"], contains || mods["startswith"], mods["cased"]).MatchString(text) {
				return true
			}
		}
		return false
	}
	if mods["all"] {
		for _, v := range ft.Values {
			if !one(v) {
				return false
			}
		}
		return true
	}
	for _, v := range ft.Values {
		if one(v) {
			return true
		}
	}
	return false
}

// genEvents makes events that a rule's own values come close to matching:
// fields taken from the rule, set to its values (wildcards filled, case
// changed, text around), to other values, or left out.
func genEvents(rnd *rand.Rand, r *Rule, n int) []map[string]any {
	type fv struct {
		field string
		vals  []Value
		mods  []string
	}
	var fields []fv
	for _, s := range r.Detection {
		for _, sel := range s.Any {
			for _, ft := range sel {
				fields = append(fields, fv{ft.Field, ft.Values, ft.Modifiers})
			}
		}
	}
	var out []map[string]any
	for i := 0; i < n; i++ {
		ev := map[string]any{}
		for _, f := range fields {
			if f.field == "" || rnd.IntN(4) == 0 {
				continue
			}
			var val any
			v := f.vals[rnd.IntN(len(f.vals))]
			switch rnd.IntN(6) {
			case 0:
				val = "unrelated"
			case 1:
				val = float64(rnd.IntN(5000))
			default:
				switch v.Kind {
				case 'n':
					if rnd.IntN(2) == 0 {
						val = v.N
					} else {
						val = v.Text()
					}
				case 'b':
					val = v.B
				case 'z':
					val = nil
				default:
					s := v.S
					s = strings.NewReplacer(`\*`, "*", `\?`, "?", `\\`, `\`, "*", "xYz", "?", "Q").Replace(s)
					if slicesContains(f.mods, "windash") && rnd.IntN(2) == 0 {
						s = strings.ReplaceAll(s, "-", "/")
					}
					switch rnd.IntN(4) {
					case 0:
						s = strings.ToUpper(s)
					case 1:
						s = "pre " + s + " post"
					}
					val = s
				}
			}
			setPath(ev, f.field, val)
		}
		out = append(out, ev)
	}
	return out
}

func slicesContains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func setPath(ev map[string]any, path string, v any) {
	parts := strings.Split(path, ".")
	m := ev
	for _, p := range parts[:len(parts)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	m[parts[len(parts)-1]] = v
}

// checkRule compares the translation of one rule with the reference on
// generated events; it returns false when the rule was not translated.
func checkRule(t *testing.T, env *celenv.Env, rnd *rand.Rand, r *Rule, events int) bool {
	t.Helper()
	if r.Refused != nil || r.Correlation != nil || len(r.Conditions) != 1 {
		return false
	}
	passthrough := &mapping.Mapping{Name: "identity", Stream: "s", Unmapped: "passthrough"}
	tg, _ := passthrough.Resolve(mapping.Source{Product: "test"})
	expr, missing, ref := detectionCEL(r, &tg.Variants[0])
	if ref != nil || len(missing) > 0 || expr == "false" || expr == "true" {
		return false
	}
	ids := []string{}
	for _, s := range r.Detection {
		ids = append(ids, s.Name)
	}
	c, ref := parseCondition(r.Conditions[0], ids)
	if ref != nil {
		return false
	}
	a, iss := env.Event.Compile(expr)
	if iss.Err() != nil {
		t.Errorf("%s: %v\n%s", r.File, iss.Err(), expr)
		return true
	}
	a, err := celenv.Semantics{FalseIfMissing: true, LenientNumbers: true}.Apply(env.Event, a)
	if err != nil {
		t.Fatal(err)
	}
	prg, err := env.Event.Program(a, append(celenv.Precompiled(), cel.EvalOptions(cel.OptOptimize))...)
	if err != nil {
		t.Fatal(err)
	}
	fast := celenv.FastPredicate(a.NativeRep().Expr())
	for _, ev := range genEvents(rnd, r, events) {
		ev["ts"] = 1.0
		line, _ := json.Marshal(ev)
		d := event.Decoder{Stream: "s"}
		dev, err := d.Decode(line)
		if err != nil {
			t.Fatal(err)
		}
		want := refEval{r, ev}.cond(c)
		v, _, err := prg.Eval(map[string]any{"event": celenv.EventValue(dev)})
		got := err == nil && v == types.True
		if err != nil && !strings.Contains(err.Error(), "no such overload") {
			t.Errorf("%s on %s: CEL error %v", r.File, line, err)
		}
		if got != want {
			t.Errorf("%s on %s: CEL %v, Sigma %v\n%s", r.File, line, got, want, expr)
			return true
		}
		if fast != nil {
			if f := fast(dev); f != celenv.Failed && (f == celenv.True) != want {
				t.Errorf("%s on %s: fast %v, Sigma %v", r.File, line, f, want)
				return true
			}
		}
	}
	return true
}

// TestTranslationMatchesSigma checks the translation of the rules under
// testdata against the reference evaluator.
func TestTranslationMatchesSigma(t *testing.T) {
	env, err := celenv.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(5, 6))
	files, _ := filepath.Glob("testdata/rules/*.yml")
	checked := 0
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rules, err := Parse(f, src)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rules {
			if checkRule(t, env, rnd, r, 200) {
				checked++
			}
		}
	}
	if checked < 8 {
		t.Errorf("only %d rules checked", checked)
	}
}

// TestCorpusMatchesSigma holds every SigmaHQ rule's translation to the
// reference evaluator on events made from the rule's own values.
func TestCorpusMatchesSigma(t *testing.T) {
	if testing.Short() {
		t.Skip("the whole corpus takes seconds")
	}
	root := requireShared(t)
	env, err := celenv.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(7, 8))
	checked, seen := 0, 0
	err = filepath.WalkDir(filepath.Join(root, "rules"), func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(p) != ".yml" {
			return err
		}
		if seen++; seen%raceSample != 0 {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rules, err := Parse(p, src)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		for _, r := range rules {
			if checkRule(t, env, rnd, r, 8) {
				checked++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 3000/raceSample {
		t.Errorf("only %d rules checked", checked)
	}
}
