package celenv

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
)

func TestWildcard(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
		cased      bool
	}{
		// A backslash escapes * as in Sigma: a path before a wildcard
		// doubles it.
		{`?:\Windows\\*.exe`, `C:\windows\System32\cmd.EXE`, true, false},
		{`?:\Windows\\*.exe`, `C:\windows\System32\cmd.EXE`, false, true},
		{`?:\Windows\\*.exe`, `\\?\C:\Windows\cmd.exe`, false, false},
		{`?:\Windows\*.exe`, `C:\Windows*.exe`, true, false},
		{`*\cmd.exe`, `C:\Windows\CMD.exe`, true, false},
		{`c:\\*`, `C:\x`, true, false},
		{`*powershell*`, `xPowerShell -enc`, true, false},
		{`*`, ``, true, false},
		{``, ``, true, false},
		{``, `a`, false, false},
		{`a?c`, `abc`, true, false},
		{`a?c`, `ac`, false, false},
		{`a?c`, `aÄc`, true, false},
		{`a\*c`, `a*c`, true, false},
		{`a\*c`, `abc`, false, false},
		{`a\?c`, `abc`, false, false},
		{`a\\*`, `a\xyz`, true, false},
		{`a\b`, `a\b`, true, false},
		{`*a*b*a*`, `xxAyyBzzA`, true, false},
		{`*a*b*a*`, `xxAyyBzz`, false, false},
		{`*.exe*.exe`, `a.exe.exe`, true, false},
		{`*ÄB?`, `xäbc`, true, false},
		{`*ÄB?`, `xäbc`, false, true},
		{`ab*`, `ABC`, true, false},
		{`ab*`, `ÄBC`, false, false},
		{`*ss`, `xSS`, true, false},
		{`**x**`, `aXb`, true, false},
		{`*x?`, `x`, false, false},
	} {
		w := CompileWildcard(c.pattern, c.cased)
		if got := w.Match(c.s); got != c.want {
			t.Errorf("%q (cased %v) on %q: %v, want %v", c.pattern, c.cased, c.s, got, c.want)
		}
	}
}

func TestHasWildcards(t *testing.T) {
	for s, want := range map[string]bool{`a*`: true, `a\*`: false, `a\\*`: true, `?`: true, `C:\Windows`: false, `a\?b`: false} {
		if HasWildcards(s) != want {
			t.Errorf("HasWildcards(%q) = %v", s, !want)
		}
	}
}

func TestFoldSearch(t *testing.T) {
	for _, c := range []struct {
		s, sub string
		want   bool
	}{
		{"C:\\Windows\\System32", "system32", true},
		{"abc", "", true},
		{"", "a", false},
		{"xxAbAbC", "abc", true},
		{"ǅx", "ǆ", true},
		{"straße", "STRASSE", false},
	} {
		n := newFoldNeedle(c.sub)
		if got := n.in(c.s); got != c.want {
			t.Errorf("%q in %q: %v", c.sub, c.s, got)
		}
	}
}

func TestMultiNeedle(t *testing.T) {
	needles := []string{"he", "she", "his", "hers", "cmd.exe", "ÄBC", "Kelvin", " –s cmd", "😀x"}
	var fs []foldNeedle
	for _, n := range needles {
		fs = append(fs, newFoldNeedle(n))
	}
	m := newMultiNeedle(fs)
	for _, s := range []string{"", "ushers", "xx", "C:\\Windows\\CMD.EXE", "ahishers", "h", "sh", "xäbcx", "\u212Aelvin", "ſhe", "\u212A", "c:\\cmd.ex", "Hi", "a –S CMD", "a —s cmd", "😀X", "😀", "x😁x"} {
		want := false
		for i := range fs {
			if fs[i].in(s) {
				want = true
			}
		}
		if got := m.in(s); got != want {
			t.Errorf("%q: %v, want %v", s, got, want)
		}
	}
	// The dotted capital I folds onto no other rune, though ToLower
	// maps it to i.
	if newMultiNeedle([]foldNeedle{newFoldNeedle("İ"), newFoldNeedle("zz")}).in("xix") {
		t.Error("İ is not in xix")
	}
	if !newMultiNeedle([]foldNeedle{newFoldNeedle("")}).in("x") {
		t.Error("an empty needle is in every string")
	}
}

// TestInvalidBytesFold: compared ignoring case, as strings.EqualFold
// compares, a byte that is not UTF-8 reads as U+FFFD, so a needle holding
// one (or U+FFFD itself) matches any such byte, whatever else the text
// holds. A needle searched alone and in a list agree. Until a needle with
// an invalid byte was kept out of the byte automaton, it matched only its
// own byte, and alone it did so only in texts without a Kelvin sign or a
// long s (CI's fuzzing, FuzzMultiNeedle).
func TestInvalidBytesFold(t *testing.T) {
	for _, tc := range []struct {
		needle, text string
		want         bool
	}{
		{"\x96s", "\x96s", true},
		{"\x96s", "\xaas", true},
		{"\x96s", "x\xaa\u017f", true},
		{"\x96s", "\ufffdS", true},
		{"\ufffds", "\xaaS", true},
		{"\x96s", "ss", false},
		{"a\x96", "a", false},
	} {
		alone := newFoldNeedle(tc.needle)
		if got := alone.in(tc.text); got != tc.want {
			t.Errorf("%q in %q alone: %v, want %v", tc.needle, tc.text, got, tc.want)
		}
		table := newMultiNeedle([]foldNeedle{newFoldNeedle(tc.needle), newFoldNeedle("zz")})
		sparse := newMultiNeedle([]foldNeedle{newFoldNeedle(tc.needle), newFoldNeedle("zz")})
		sparse.dfa = nil
		if got := table.in(tc.text); got != tc.want {
			t.Errorf("%q in %q in a list: %v, want %v", tc.needle, tc.text, got, tc.want)
		}
		if got := sparse.in(tc.text); got != tc.want {
			t.Errorf("%q in %q in a list of transitions: %v, want %v", tc.needle, tc.text, got, tc.want)
		}
	}
}

// TestMultiNeedleRandom holds the automaton (and its skipping of bytes
// that start no needle), tabulated or not, to the needles searched one by
// one, on random needles and texts over an alphabet of cases and runes
// that fold.
func TestMultiNeedleRandom(t *testing.T) {
	alphabet := []string{"a", "B", "c", "k", "K", "s", "S", "\u212A", "\u017F", "ä", "Ä", " ", "\\", "x", "😀", "İ", "i", "–"}
	rnd := rand.New(rand.NewPCG(5, 6))
	word := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteString(alphabet[rnd.IntN(len(alphabet))])
		}
		return b.String()
	}
	for round := range 600 {
		var fs []foldNeedle
		var texts []string
		for range 1 + rnd.IntN(12) {
			// Half the rounds start every needle alike, as a list of
			// Windows paths does, so that states fan out (dense).
			texts = append(texts, strings.Repeat("\\", round%2)+word(1+rnd.IntN(3)))
			fs = append(fs, newFoldNeedle(texts[len(texts)-1]))
		}
		m := newMultiNeedle(fs)
		if round%3 == 0 {
			// The automaton as lists of transitions, as a list too
			// large to tabulate keeps it.
			m.dfa = nil
		}
		for range 20 {
			s := word(rnd.IntN(12))
			want := false
			for i := range fs {
				want = want || fs[i].in(s)
			}
			if got := m.in(s); got != want {
				t.Fatalf("needles %q in %q: %v, want %v", texts, s, got, want)
			}
		}
	}
}

// TestMultiNeedleWideTable checks automata whose tables hold 16-bit and
// 32-bit offsets against the needles one by one.
func TestMultiNeedleWideTable(t *testing.T) {
	// Needles with runes that fold are searched apart from the
	// automaton; the texts have them.
	alphabet := []string{"a", "B", "c", "d", "E", "k", "K", "s", "\\", "x"}
	rnd := rand.New(rand.NewPCG(9, 10))
	word := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteString(alphabet[rnd.IntN(len(alphabet))])
		}
		return b.String()
	}
	for _, c := range []struct {
		needles int
		wide    bool
	}{{80, false}, {2000, true}} {
		var fs []foldNeedle
		for range c.needles {
			fs = append(fs, newFoldNeedle(word(8)))
		}
		m := newMultiNeedle(fs)
		if m.dfa == nil || (m.dfa.off32 != nil) != c.wide {
			t.Fatalf("%d states: no table of the width expected (32 bits: %v)", len(m.edges), c.wide)
		}
		hits := 0
		for range 3000 {
			s := word(rnd.IntN(40))
			if rnd.IntN(2) == 0 {
				// A needle, its case changed, within the text.
				n := []rune(fs[rnd.IntN(len(fs))].s)
				for i := range n {
					if rnd.IntN(2) == 0 {
						n[i] = unicode.SimpleFold(n[i])
					}
				}
				s = word(rnd.IntN(10)) + string(n[:len(n)-rnd.IntN(2)]) + word(rnd.IntN(10))
			}
			if rnd.IntN(4) == 0 {
				s = strings.ReplaceAll(s, "k", "\u212A")
			}
			want := false
			for i := range fs {
				want = want || fs[i].in(s)
			}
			if got := m.in(s); got != want {
				t.Fatalf("%q: %v, want %v", s, got, want)
			}
			if want {
				hits++
			}
		}
		if hits < 500 {
			t.Errorf("%d needles: only %d texts of 3,000 hold a needle", c.needles, hits)
		}
	}
}

func estimate(tb testing.TB, env *Env, expr string) checker.CostEstimate {
	tb.Helper()
	a, iss := env.Event.Compile(expr)
	if iss.Err() != nil {
		tb.Fatalf("%s: %v", expr, iss.Err())
	}
	est, err := env.Event.EstimateCost(a, CostEstimator(64*1024))
	if err != nil {
		tb.Fatalf("%s: %v", expr, err)
	}
	return est
}

// TestCostEstimates pins the estimates of the expressions the issue named
// and of every function of the package.
func TestCostEstimates(t *testing.T) {
	env, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		expr     string
		min, max uint64
	}{
		// Six short literals, each searched for in a 64 Ki field: about
		// 6 × 6,554 × 0.2, not 257,729,549.
		{`["a","b","c","d","e","f"].exists(s, event.CommandLine.contains(s))`, 1, 50_000},
		{`["whoami","net1"].exists(s, event.CommandLine.icontains(s))`, 1, 30_000},
		// One pass of the automaton, however many needles.
		{`event.CommandLine.icontainsAny(["whoami", "net1", "nltest"])`, 1, 7_000},
		{`event.Image.iendsWith("\\cmd.exe")`, 1, 10},
		{`event.Image.iequals("x")`, 1, 10},
		{`event.Image.iin(["a.exe", "b.exe"])`, 1, 20},
		{`event.Image.wildcard("?:\\Windows\\*.exe")`, 1, 200_000},
		{`contains_ignore_case(event.a, "xy")`, 1, 7_000},
		{`equals_ignore_case(event.a, "xy")`, 1, 10},
		{`in_list("l", event.a)`, 1, 7_000},
		{`in_cidr(event.ip, ["10.0.0.0/8", "192.168.0.0/16"])`, 1, 20},
		{`is_private_ip(event.ip)`, 1, 10},
		{`keywords(event, ["mimikatz", "sekurlsa"])`, 1, 7_000},
		{`ts(event) < ts(event)`, 1, 20},
		// A literal regex is costed by its compiled program: [a-z]+ is
		// one instruction, not six characters: one pass over the field.
		{`event.a.matches("^[a-z]+$")`, 1, 7_000},
	} {
		est := estimate(t, env, c.expr)
		if est.Min < c.min || est.Max > c.max {
			t.Errorf("%s: estimated [%d, %d], want within [%d, %d]", c.expr, est.Min, est.Max, c.min, c.max)
		}
	}
	// A regex's estimate follows its program, so a case-insensitive
	// alternation costs what its instructions cost.
	alt := estimate(t, env, `event.a.matches("(?i)(mimikatz|procdump|rubeus|sharphound)")`)
	long := estimate(t, env, `event.a.matches("(?i)(mimikatz|procdump|rubeus|sharphound|lazagne|psexec|wmiexec|certutil)")`)
	if alt.Max >= long.Max || long.Max >= 1_000_000 {
		t.Errorf("alternations: %d then %d", alt.Max, long.Max)
	}
}

// Every custom function needs an estimate of its own, or the checker falls
// back to a constant that ignores its arguments.
func TestEveryFunctionHasAnEstimate(t *testing.T) {
	est := costEstimator{max: 100}
	env, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range env.Event.Functions() {
		name := fn.Name()
		if name != FnFalseIfMissing && name != FnNum && !isOurs(name) {
			continue
		}
		for _, o := range fn.OverloadDecls() {
			var target *checker.AstNode
			args := make([]checker.AstNode, len(o.ArgTypes()))
			for i := range args {
				args[i] = fakeNode{}
			}
			if o.IsMemberFunction() {
				var tn checker.AstNode = fakeNode{}
				target = &tn
				args = args[1:]
			}
			if est.EstimateCallCost(name, o.ID(), target, args) == nil {
				t.Errorf("%s (%s) has no cost estimate", name, o.ID())
			}
		}
	}
}

func isOurs(name string) bool {
	switch name {
	case "keywords", "keywordsLike", "in_list", "ts", "hours_between", "geo_distance_km", "equals_ignore_case", "contains_ignore_case", "in_cidr", "is_private_ip", "wildcard", "wildcardCased":
		return true
	}
	for _, f := range matchFuncs {
		if f.name == name {
			return true
		}
	}
	for _, f := range listFuncs {
		if f.name == name {
			return true
		}
	}
	return false
}

type fakeNode struct{}

func (fakeNode) Path() []string                      { return []string{"event", "x"} }
func (fakeNode) Type() *types.Type                   { return types.DynType }
func (fakeNode) Expr() ast.Expr                      { return ast.NewExprFactory().NewIdent(1, "x") }
func (fakeNode) ComputedSize() *checker.SizeEstimate { return nil }

func TestActualCost(t *testing.T) {
	env, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	a, iss := env.Event.Compile(`event.a.icontains("needle") || event.a.wildcard("*x*y")`)
	if iss.Err() != nil {
		t.Fatal(iss.Err())
	}
	prg, err := env.Event.Program(a, append(Precompiled(), cel.CostTracking(ActualCost{}))...)
	if err != nil {
		t.Fatal(err)
	}
	_, det, err := prg.Eval(map[string]any{"event": EventValue(decode(t, `{"ts":1,"a":"`+strings.Repeat("z", 1000)+`"}`))})
	if err != nil {
		t.Fatal(err)
	}
	if c := *det.ActualCost(); c < 100 {
		t.Errorf("actual cost %d: the functions' costs are not counted", c)
	}
}

func BenchmarkMatch(b *testing.B) {
	s := `C:\Program Files\Common Files\microsoft shared\ClickToRun\OfficeC2RClient.exe`
	suffix, sub := newFoldNeedle(`\officec2rclient.EXE`), newFoldNeedle(`clicktorun`)
	w := CompileWildcard(`?:\program files\*\*.exe`, false)
	cmd := `"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe" -NoProfile -ExecutionPolicy RemoteSigned -Command "& { Get-ChildItem -Path C:\ProgramData\Microsoft\Windows Defender\Platform | Sort-Object Name }"`
	var list []foldNeedle
	for _, n := range []string{" -enc ", "downloadstring", "iex(", "invoke-expression", "frombase64string", `\temp\`, "-w hidden", "bypass", "net.webclient", "start-bitstransfer"} {
		list = append(list, newFoldNeedle(n))
	}
	enc := newFoldNeedle(" -encodedcommand ")
	// Sigma writes a flag's dash also as an en dash, a rune with no case.
	dash := newFoldNeedle(" –encodedcommand ")
	table, sparse := newMultiNeedle(list), newMultiNeedle(list)
	sparse.dfa = nil
	script := strings.Repeat(cmd+"\n", 10240/len(cmd))
	for _, c := range []struct {
		name string
		f    func() bool
	}{
		{"iendsWith", func() bool { return suffix.suffixOf(s) }},
		{"icontains", func() bool { return sub.in(s) }},
		{"wildcard", func() bool { return w.Match(s) }},
		// A needle whose first byte, a space, the command line is full
		// of; it holds the needle nowhere.
		{"icontains/space", func() bool { return enc.in(cmd) }},
		{"icontains/dash", func() bool { return dash.in(cmd) }},
		// A Sigma list over a PowerShell command line that holds none.
		{"icontainsAny/table", func() bool { return table.in(cmd) }},
		{"icontainsAny/sparse", func() bool { return sparse.in(cmd) }},
		// The same over a script block of 10 KB, as PowerShell's
		// module logging writes them.
		{"icontainsAny/table-10KB", func() bool { return table.in(script) }},
	} {
		want := c.f()
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if c.f() != want {
					b.Fatal("changed")
				}
			}
		})
	}
}

// TestIndexASCIIFold holds the case-insensitive search, from whichever of
// the needle's bytes, to a search of the lower-cased text, on random
// texts where the needle's first byte is common in one case and rare in
// the other.
func TestIndexASCIIFold(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 8))
	alphabet := "rRrrregEG x\\"
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		return string(b)
	}
	for range 5000 {
		s, sub := word(rnd.IntN(40)), strings.ToLower(word(rnd.IntN(4)))
		want := strings.Index(strings.ToLower(s), sub)
		if got := indexASCIIFold(s, sub); got != want {
			t.Fatalf("indexASCIIFold(%q, %q) = %d, want %d", s, sub, got, want)
		}
		// Looking first for any of its bytes finds the same first match.
		for k := range len(sub) {
			if got := indexASCIIFoldAt(s, sub, k); got != want {
				t.Fatalf("indexASCIIFoldAt(%q, %q, %d) = %d, want %d", s, sub, k, got, want)
			}
		}
	}
}

// Ranges read from events are parsed each time once the cache of parsed
// ranges is full: it does not grow with every new one.
func TestPrefixCacheIsBounded(t *testing.T) {
	for i := range maxPrefixes + 100 {
		s := fmt.Sprintf("10.%d.%d.0/24", i/256, i%256)
		p, err := prefix(s)
		if err != nil || p.String() != s {
			t.Fatalf("prefix(%q) = %v, %v", s, p, err)
		}
	}
	if n := prefixesSize.Load(); n > maxPrefixes {
		t.Errorf("%d ranges cached, at most %d wanted", n, maxPrefixes)
	}
	n := 0
	prefixes.Range(func(any, any) bool { n++; return true })
	if n > maxPrefixes {
		t.Errorf("%d ranges in the cache, at most %d wanted", n, maxPrefixes)
	}
}

// TestMultiNeedlePaired holds the two walkers of a long text (scanPaired)
// to the needles searched one by one, with needles placed anywhere,
// across the middle and at the ends among them.
func TestMultiNeedlePaired(t *testing.T) {
	alphabet := []string{"a", "B", "e", "E", " ", "t", "\\", "x", "ä", "k"}
	rnd := rand.New(rand.NewPCG(11, 12))
	tokens := func(n int) []string {
		ts := make([]string, n)
		for i := range ts {
			ts[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		return ts
	}
	paired := 0
	for range 300 {
		var fs []foldNeedle
		var names []string
		for range 1 + rnd.IntN(8) {
			names = append(names, strings.Join(tokens(2+rnd.IntN(12)), ""))
			fs = append(fs, newFoldNeedle(names[len(names)-1]))
		}
		m := newMultiNeedle(fs)
		if m.dfa == nil || m.rareStarts {
			continue
		}
		for range 20 {
			ts := tokens(minPaired + rnd.IntN(600))
			if rnd.IntN(2) == 0 {
				// A needle, in upper case, at the start, the end, about
				// the middle or anywhere.
				at := []int{0, len(ts), len(ts)/2 - rnd.IntN(8), rnd.IntN(len(ts))}[rnd.IntN(4)]
				ts = slices.Insert(ts, at, strings.ToUpper(names[rnd.IntN(len(names))]))
			}
			s := strings.Join(ts, "")
			want := false
			for i := range fs {
				want = want || fs[i].in(s)
			}
			if !foldsOntoASCII(s) && len(s)/2 >= m.longest {
				paired++
			}
			if got := m.in(s); got != want {
				t.Fatalf("needles %q in %q: %v, want %v", names, s, got, want)
			}
		}
	}
	if paired < 1000 {
		t.Fatalf("only %d texts read by two walkers", paired)
	}
}

// FuzzMultiNeedle holds a list's automaton, tabulated or not, over short
// texts and long ones (read by two walkers), to its needles searched one
// by one. The needles are the fuzzed list split at NULs.
func FuzzMultiNeedle(f *testing.F) {
	f.Add("he\x00she\x00his\x00hers", "ushers", uint8(0))
	f.Add("\u2013enc\x00İ\x00sekurlsa::", "a \u2013ENC b", uint8(40))
	f.Add("k\x00s", "\u212A\u017F", uint8(200))
	f.Fuzz(func(t *testing.T, list, text string, repeat uint8) {
		var fs []foldNeedle
		for _, n := range strings.Split(list, "\x00") {
			fs = append(fs, newFoldNeedle(n))
		}
		table := newMultiNeedle(fs)
		sparse := newMultiNeedle(fs)
		sparse.dfa = nil
		for _, s := range []string{text, strings.Repeat(text+" ", int(repeat))} {
			want := false
			for i := range fs {
				want = want || fs[i].in(s)
			}
			if got := table.in(s); got != want {
				t.Fatalf("%q in %q: table %v, want %v", list, s, got, want)
			}
			if got := sparse.in(s); got != want {
				t.Fatalf("%q in %q: lists of transitions %v, want %v", list, s, got, want)
			}
		}
	})
}
