package celenv

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/cep-project/cep/event"
	"github.com/google/cel-go/common/types"
)

// TestLineKeywords holds the search of an event's line to its promise: it
// rules an event out only when no value holds a needle. Lines escape their
// strings in every way JSON allows and write numbers in several forms;
// needles hold backslashes, quotes, digits and letters of either case.
func TestLineKeywords(t *testing.T) {
	rnd := rand.New(rand.NewPCG(8, 9))
	pieces := []string{"a", "B", "k", "\\", "\"", "/", "1", "2", "5", "0", ".", "-", " ", ":", "é", "\u212A", "\n"}
	text := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteString(pieces[rnd.IntN(len(pieces))])
		}
		return b.String()
	}
	// quote writes s as a JSON string, escaping what it must and, at
	// random, what it may.
	quote := func(s string) string {
		var b strings.Builder
		b.WriteByte('"')
		for _, r := range s {
			switch {
			case r == '\\' || r == '"':
				b.WriteString(`\` + string(r))
			case r == '\n':
				b.WriteString([]string{`\n`, `\u000a`}[rnd.IntN(2)])
			case r == '/' && rnd.IntN(3) == 0:
				b.WriteString(`\/`)
			case r < 0x80 && rnd.IntN(20) == 0:
				fmt.Fprintf(&b, `\u%04x`, r)
			default:
				b.WriteRune(r)
			}
		}
		b.WriteByte('"')
		return b.String()
	}
	numbers := []string{"11", "-1.5", "1e1", "1.50", "0.001", "-0", "12.25e-1"}
	d := event.Decoder{Stream: "s"}
	ruledOut, searched := 0, 0
	for range 3000 {
		var needles []foldNeedle
		var names []string
		for range 1 + rnd.IntN(3) {
			names = append(names, text(1+rnd.IntN(3)))
			needles = append(needles, newFoldNeedle(names[len(names)-1]))
		}
		line := lineKeywords(needles)
		if line == nil {
			continue
		}
		var members []string
		for i := range 1 + rnd.IntN(5) {
			var v string
			switch rnd.IntN(4) {
			case 0:
				v = numbers[rnd.IntN(len(numbers))]
			case 1:
				v = fmt.Sprintf(`{"x":%s,"y":[%s,true]}`, quote(text(rnd.IntN(6))), numbers[rnd.IntN(len(numbers))])
			default:
				v = quote(text(rnd.IntN(8)))
			}
			members = append(members, fmt.Sprintf(`"f%d":%s`, i, v))
		}
		raw := `{"ts":1,` + strings.Join(members, ",") + "}"
		ev, err := d.Decode([]byte(raw))
		if err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		m := newMultiNeedle(needles)
		holds := keywordsIn(EventValue(ev), m.in) == types.True
		searched++
		if line.rulesOut(ev) {
			ruledOut++
			if holds {
				t.Fatalf("%s: ruled out, but a value holds one of %q", raw, names)
			}
		}
	}
	if ruledOut < searched/4 {
		t.Fatalf("ruled out %d of %d events", ruledOut, searched)
	}
}

// TestLineKeywordsCases: the lines a search of the line must not rule
// out, and one it must.
func TestLineKeywordsCases(t *testing.T) {
	for _, c := range []struct {
		needles  []string
		line     string
		ruledOut bool
		holds    bool // what the walk of the values says
	}{
		{[]string{`a"b`}, `{"ts":1,"v":"xa\"bx"}`, false, true},
		{[]string{`a\m`}, `{"ts":1,"v":"a\\mimi"}`, false, true},
		{[]string{`/x`}, `{"ts":1,"v":"a\/x"}`, false, true},
		{[]string{`AB`}, `{"ts":1,"v":"\u0041b"}`, false, true},
		{[]string{`10`}, `{"ts":1,"v":1e1}`, false, true},
		{[]string{`1.5`}, `{"ts":1,"v":1.50}`, false, true},
		{[]string{`sekurlsa::`}, `{"ts":1,"v":"SEKURLSA::logonpasswords"}`, false, true},
		{[]string{`sekurlsa::`, `kiwi`}, `{"ts":1,"v":"a\nb","w":["c",{"d":"e"}]}`, true, false},
		{[]string{`x`}, `{"ts":1,"v":"\u00e9"}`, false, false}, // \u: says nothing
	} {
		var needles []foldNeedle
		for _, n := range c.needles {
			needles = append(needles, newFoldNeedle(n))
		}
		d := event.Decoder{Stream: "s"}
		ev, err := d.Decode([]byte(c.line))
		if err != nil {
			t.Fatal(err)
		}
		got := false
		if line := lineKeywords(needles); line != nil {
			got = line.rulesOut(ev)
		}
		if got != c.ruledOut {
			t.Errorf("%q in %s: ruled out %v, want %v", c.needles, c.line, got, c.ruledOut)
		}
		if holds := keywordsIn(EventValue(ev), newMultiNeedle(needles).in) == types.True; holds != c.holds {
			t.Errorf("%q in %s: the walk says %v", c.needles, c.line, holds)
		}
	}
}
