package celenv

import (
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"
	"unicode"
)

func TestRegexPrefilterLits(t *testing.T) {
	tests := []struct {
		pattern string
		want    []string // nil: no prefilter
		fold    bool
	}{
		{`://[0-9]{1,3}\.[0-9]{1,3}`, []string{"://"}, false},
		{`\\[a-zA-Z]{8}\.tmp$`, []string{".tmp"}, false},
		{`(?i)^C:\\Users\\[^\\]+\\NTUSER\.DAT$`, []string{`\NTUSER.DAT`}, true},
		{`\s-O\s`, []string{"-O"}, false},
		{`(abc|de)f`, []string{"abc", "de"}, false},
		{`(abc|de)fghij`, []string{"fghij"}, false},
		{`(abc|[0-9])`, nil, false},
		{`x*`, nil, false},
		{`(?:ab)?c`, []string{"c"}, false},
		{`(?:xyz){2,}`, []string{"xyz"}, false},
		{`a|b|c|d|e|f|g|h|i`, nil, false},
		{`[ab]`, nil, false},
		{`.*`, nil, false},
		{`\x{FFFD}abc`, nil, false},
	}
	for _, tt := range tests {
		re, err := syntaxParse(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		lits, fold, ok := requiredLits(re)
		if !ok {
			lits = nil
		}
		if !slices.Equal(lits, tt.want) || ok && fold != tt.fold {
			t.Errorf("%s: literals %q (fold %v), want %q (fold %v)", tt.pattern, lits, fold, tt.want, tt.fold)
		}
	}
}

func TestRegexPrefilterGroups(t *testing.T) {
	tests := []struct {
		pattern string
		want    [][]string // nil: no prefilter
	}{
		{`://[0-9]{1,3}\.[0-9]{1,3}`, [][]string{{"://"}, {"."}}},
		{`(?i)(set).*&&\s?set.*(environment|invoke|\$?\{?input).*&&.*"`, [][]string{{"SET"}, {"&&"}, {`"`}, {"ENVIRONMENT", "INVOKE", "INPUT"}}}, // the parser's case under (?i)
		{`(abc|de)fghij`, [][]string{{"fghij"}, {"abc", "de"}}},
		{`a.b.c.d.e.f`, [][]string{{"a"}, {"b"}, {"c"}, {"d"}}},
		{`(?:xyz){2,}q`, [][]string{{"xyz"}, {"q"}}},
		{`x*`, nil},
		{`(abc|[0-9])`, nil},
	}
	for _, tt := range tests {
		re, err := syntaxParse(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		var got [][]string
		for _, g := range prefilterGroups(re) {
			got = append(got, g.lits)
		}
		if !slices.EqualFunc(got, tt.want, slices.Equal) {
			t.Errorf("%s: groups %q, want %q", tt.pattern, got, tt.want)
		}
	}
}

// FuzzRegexPrefilter holds the prefilter to its promise: false only for
// strings the regexp does not match. Beside the string as drawn, it tries
// each of the prefilter's literals between a prefix and a suffix, its
// letters' case flipped by mask and k and s sometimes written as the
// Kelvin sign and the long s: random strings rarely match a pattern.
func FuzzRegexPrefilter(f *testing.F) {
	for _, s := range []struct{ re, s string }{
		{`://[0-9]{1,3}`, "http://10.0.0.1/x"},
		{`(?i)kelvin`, "\u212Aelvin"},
		{`(?i)(abc|de)f`, "xxDEF"},
		{`\.tmp$`, "a.tmp"},
		{`abc`, "ab\xffc"},
		{`(?i)straße`, "STRASSE"},
		{`(?i)ſ`, "S"},
		{`(?i)^C:\\Users\\[^\\]+\\NTUSER\.DAT$`, `c:\users\x\ntuser.dat`},
	} {
		f.Add(s.re, s.s, "", uint64(0))
	}
	f.Fuzz(func(t *testing.T, pattern, s, suffix string, mask uint64) {
		re, err := regexp.Compile(pattern)
		if err != nil {
			return
		}
		pre := regexPrefilter(pattern)
		if pre == nil {
			return
		}
		try := func(s string) {
			if !pre(s) && re.MatchString(s) {
				t.Fatalf("%q matches %q, but the prefilter rules it out", pattern, s)
			}
		}
		try(s)
		sre, err := syntax.Parse(pattern, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		groups := prefilterGroups(sre.Simplify())
		flip := func(l string) string {
			var b strings.Builder
			for i, r := range l {
				bit := mask>>(uint(i)%64)&1 == 1
				switch {
				case bit && (r == 'k' || r == 'K') && mask&(1<<63) != 0:
					r = '\u212A'
				case bit && (r == 's' || r == 'S') && mask&(1<<62) != 0:
					r = '\u017F'
				case bit:
					r = unicode.SimpleFold(r)
				}
				b.WriteRune(r)
			}
			return b.String()
		}
		// One literal of every group, so that the prefilter passes and
		// the regexp has a chance to match; and each literal alone.
		var all strings.Builder
		for i, g := range groups {
			l := g.lits[int(mask>>(uint(i)*8)%uint64(len(g.lits)))]
			all.WriteString(flip(l))
			for _, l := range g.lits {
				try(s + flip(l) + suffix)
			}
		}
		try(s + all.String() + suffix)
	})
}

func syntaxParse(pattern string) (*syntax.Regexp, error) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, err
	}
	return re.Simplify(), nil
}

func TestIsASCII(t *testing.T) {
	for _, s := range []string{"", "a", "abcdefgh", "abcdefghi", "abcdefg\x80", "\x80bcdefghijklmnop", "abcdefghijklmno\xff", "ä", "abcdefgä"} {
		want := true
		for i := 0; i < len(s); i++ {
			want = want && s[i] < 0x80
		}
		if got := isASCII(s); got != want {
			t.Errorf("isASCII(%q) = %v", s, got)
		}
	}
}
