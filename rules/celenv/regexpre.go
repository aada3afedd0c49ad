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

// maxPrefilterGroups bounds the groups a prefilter tests (see
// requiredGroups). A field that has the first group's literal, such as
// the "set" of `(?i)(set).*&&\s?set.*(environment|invoke|input)`, which
// most PowerShell has, is searched for the next, the "&&" few have.
const maxPrefilterGroups = 4

// litGroup is literals one of which every match contains; fold is set
// when they are to be found without regard to case.
type litGroup struct {
	lits []string
	fold bool
}

// regexPrefilter returns a test that is false only for strings the
// pattern does not match, or nil when the pattern names no literal every
// match contains. Literals under (?i) are searched without regard to case,
// with Unicode's simple folding, as regexp matches them.
func regexPrefilter(pattern string) func(string) bool {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	groups := prefilterGroups(re.Simplify())
	if len(groups) == 0 {
		return nil
	}
	tests := make([]func(string) bool, len(groups))
	for i, g := range groups {
		tests[i] = g.test()
	}
	return func(s string) bool {
		for _, t := range tests {
			if !t(s) {
				return false
			}
		}
		return true
	}
}

// test is whether a string contains one of g's literals.
func (g litGroup) test() func(string) bool {
	lits := g.lits
	if !g.fold {
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

// prefilterGroups returns the groups a prefilter of re tests, in the
// order it tests them: those of one literal first (one search each),
// longest first (a long literal is rarer), then the others; the same
// group once; at most maxPrefilterGroups.
func prefilterGroups(re *syntax.Regexp) []litGroup {
	var groups []litGroup
	for _, g := range requiredGroups(re) {
		if !slices.ContainsFunc(groups, func(h litGroup) bool { return h.fold == g.fold && slices.Equal(h.lits, g.lits) }) {
			groups = append(groups, g)
		}
	}
	shortest := func(g litGroup) int {
		return len(slices.MinFunc(g.lits, func(a, b string) int { return len(a) - len(b) }))
	}
	slices.SortStableFunc(groups, func(a, b litGroup) int {
		if (len(a.lits) == 1) != (len(b.lits) == 1) {
			if len(a.lits) == 1 {
				return -1
			}
			return 1
		}
		return shortest(b) - shortest(a)
	})
	if len(groups) > maxPrefilterGroups {
		groups = groups[:maxPrefilterGroups]
	}
	return groups
}

// requiredGroups returns groups of literals such that every match of re
// contains a literal of each: the operands of a concatenation each give
// theirs, where requiredLits keeps one operand's.
func requiredGroups(re *syntax.Regexp) []litGroup {
	switch re.Op {
	case syntax.OpConcat:
		var groups []litGroup
		for _, sub := range re.Sub {
			groups = append(groups, requiredGroups(sub)...)
		}
		return groups
	case syntax.OpCapture, syntax.OpPlus:
		return requiredGroups(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return requiredGroups(re.Sub[0])
		}
		return nil
	}
	if lits, fold, ok := requiredLits(re); ok {
		return []litGroup{{lits: lits, fold: fold}}
	}
	return nil
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
