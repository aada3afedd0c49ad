package celenv

import (
	"regexp/syntax"
	"slices"
	"strings"
	"unicode/utf8"
)

// Most security regexes name a literal that a match must contain (the
// "://" of `://[0-9]{1,3}\.[0-9]{1,3}…`, the ".tmp" of `\\[a-zA-Z]{8}\.tmp$`),
// and most fields tested do not contain it. Go's regexp runs its automaton
// over the whole field all the same: in SigmaHQ's Windows rules over the
// OTRF recordings a fifth of the CPU was regexp's. regexPrefilter finds
// such literals, as RE2's prefilter does, and a field without any of them
// is not handed to the regexp at all.

// maxPrefilterLits bounds the literals of a prefilter: an alternation of
// more is searched faster by the regexp itself.
const maxPrefilterLits = 8

// regexPrefilter returns a test that is false only for strings the
// pattern does not match, or nil when the pattern names no literal every
// match contains. Literals under (?i) are searched without regard to case,
// with Unicode's simple folding, as regexp matches them.
func regexPrefilter(pattern string) func(string) bool {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	lits, fold, ok := requiredLits(re.Simplify())
	if !ok {
		return nil
	}
	if !fold {
		return func(s string) bool {
			for _, l := range lits {
				if strings.Contains(s, l) {
					return true
				}
			}
			return false
		}
	}
	needles := make([]foldNeedle, len(lits))
	for i, l := range lits {
		needles[i] = newFoldNeedle(l)
	}
	return func(s string) bool {
		for i := range needles {
			if needles[i].in(s) {
				return true
			}
		}
		return false
	}
}

// requiredLits returns literals one of which every match of re contains;
// fold is set when they are to be found without regard to case. ok is
// false when re names none.
func requiredLits(re *syntax.Regexp) (lits []string, fold, ok bool) {
	switch re.Op {
	case syntax.OpLiteral:
		l := string(re.Rune)
		// regexp reads an invalid byte as U+FFFD, which a search of the
		// literal's bytes would not find.
		if l == "" || strings.ContainsRune(l, utf8.RuneError) {
			return nil, false, false
		}
		return []string{l}, re.Flags&syntax.FoldCase != 0, true
	case syntax.OpCapture, syntax.OpPlus:
		return requiredLits(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return requiredLits(re.Sub[0])
		}
	case syntax.OpConcat:
		// Any operand's literals will do: the one whose shortest literal
		// is longest rules out the most.
		best := -1
		for _, sub := range re.Sub {
			l, f, ok := requiredLits(sub)
			if !ok {
				continue
			}
			if n := slices.MinFunc(l, func(a, b string) int { return len(a) - len(b) }); len(n) > best {
				lits, fold, best = l, f, len(n)
			}
		}
		return lits, fold, best > 0
	case syntax.OpAlternate:
		// A match matches one of the branches: each must name literals.
		for _, sub := range re.Sub {
			l, f, ok := requiredLits(sub)
			if !ok || len(lits)+len(l) > maxPrefilterLits {
				return nil, false, false
			}
			// Found without regard to case, a literal is still found
			// where it is in its own case.
			lits, fold = append(lits, l...), fold || f
		}
		return lits, fold, len(lits) > 0
	}
	return nil, false, false
}
