package rules

import (
	"slices"
	"strings"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules/rulefmt"
)

// Compact readies loaded rules for a long run; call it once, after Lint
// and before the rules are shared with the engine.
//
// It releases what only loading and linting read: the checked syntax
// trees, and all of the parsed rule file (Spec) but where the rule is and
// whether it emits. It leaves the cel-go program of an expression that a native
// predicate or a plain field read answers to be built again when first
// needed (to word an error, or under an activation the native form does
// not take). Together that is three fifths of a compiled rule.
//
// And it moves each rule's programs into one array of its own, and builds
// their native predicates once more, rule after rule, so that each
// rule's lie together in memory, not among the compiler's garbage. With
// 10,000 rules an event's candidate rule is a random one, and a test that
// reaches into a dozen scattered pages waits on a cache and TLB miss at
// each: 1.0–1.5 µs against 0.33–0.66 µs compacted (BenchmarkCandidateTest).
//
// After Compact, Lint and LintCase find nothing more to say about the
// rules' expressions, and AST returns nil.
func Compact(rs []*Rule) {
	// One copy of each string the rules hold, the conditions' constants
	// among them (see share).
	strs := map[string]string{}
	constant := func(s string) string {
		if v, ok := strs[s]; ok {
			return v
		}
		s = strings.Clone(s) // not the syntax tree's
		strs[s] = s
		return s
	}
	for _, r := range rs {
		if s := r.Spec; s != nil {
			// A run reads of its rule file only where the rule is (to
			// place a failure) and whether it emits; the rest, the file's
			// text among it, is for lint and import, which do not compact.
			r.Spec = &rulefmt.Spec{Pos: s.Pos, Alert: rulefmt.AlertSpec{Emit: s.Alert.Emit}}
		}
		compactPrograms(r, constant)
	}
	share(rs, strs)
}

// compactPrograms moves the rule's programs into one array, each with a
// native predicate built anew (its string constants from constant), its
// syntax tree released, and its cel-go program left to be built again
// when a native predicate or a plain field read answers it. One object
// for the collector to mark where there was one per program: a filter
// rule with a key and two alert fields held four.
func compactPrograms(r *Rule, constant func(string) string) {
	refs := append(r.programRefs(), r.eventConditionRefs()...)
	if a := r.Aggregate; a != nil && a.Having != nil {
		refs = append(refs, &a.Having)
	}
	// The rule's programs in the order first found, each once though
	// held in two places (a key of every stream and of its own); those
	// without a syntax tree were compacted before.
	at := map[*Program]int{}
	var olds []*Program
	for _, ref := range refs {
		if p := *ref; p != nil && p.ast != nil {
			if _, ok := at[p]; !ok {
				at[p] = len(olds)
				olds = append(olds, p)
			}
		}
	}
	if len(olds) == 0 {
		return
	}
	block := make([]Program, len(olds))
	for i, p := range olds {
		np := &block[i]
		*np = *p
		if p.native() || p.refuter() != nil {
			np.setNative(p.ast.NativeRep().Expr(), constant, p.refuter() != nil)
		}
		np.ast = nil
		if (np.native() || np.path != nil) && np.rb != nil {
			np.cel = nil // built again from np.rb when first needed
		}
	}
	for _, ref := range refs {
		if i, ok := at[*ref]; ok {
			*ref = &block[i]
		}
	}
}

// share gives the rules one copy of each string and path they hold in
// common, in place of one each from the parser: a severity, a stream, a
// key or alert field's expression, the paths an expression reads, an
// indexed value. The collector marks every object the rules hold on each
// of its cycles: with 9,990 rules that no event reached, the 10-rule
// filter scenario took half as much CPU again per event (cep bench
// --idle-rules), a cycle's marking 90 ms of CPU, most of it the rules.
func share(rs []*Rule, strs map[string]string) {
	str := func(p *string) {
		if v, ok := strs[*p]; ok {
			*p = v
		} else {
			strs[*p] = *p
		}
	}
	strList := func(l []string) {
		for i := range l {
			str(&l[i])
		}
	}
	// A list of strings other rules hold too (an indexed value, such as
	// type == "card_auth"), shared whole, clipped.
	listsOf := map[string][]string{}
	strSlice := func(l []string) []string {
		if len(l) == 0 {
			return l
		}
		strList(l)
		key := string(event.AppendPathKey(nil, l))
		if v, ok := listsOf[key]; ok {
			return v
		}
		l = slices.Clip(l)
		listsOf[key] = l
		return l
	}
	paths := func(l [][]string) {
		for i, p := range l {
			l[i] = event.SharedPath(p)
		}
	}
	// Most expressions' lists of paths read are those of others too
	// (event.card_id, event.amount); shared, they are clipped, so that
	// appending to one copies it.
	lists := map[string][][]string{}
	pathList := func(l [][]string) [][]string {
		if len(l) == 0 {
			return l
		}
		paths(l)
		var key []byte
		for _, p := range l {
			key = event.AppendPathKey(key, p)
		}
		if v, ok := lists[string(key)]; ok {
			return v
		}
		l = slices.Clip(l)
		lists[string(key)] = l
		return l
	}
	// Programs that build alike (the conditions of rules of one kind, the
	// keys, the alert fields of one name) share one way of rebuilding.
	rebuilds := map[rebuildKey]*rebuild{}
	rebuildOf := func(rb *rebuild) *rebuild {
		k := rb.key()
		if v, ok := rebuilds[k]; ok {
			return v
		}
		str(&rb.what)
		rebuilds[k] = rb
		return rb
	}
	for _, r := range rs {
		packStrings(&r.ID, &r.Title, &r.Description, &r.File, &r.Version, &r.StateVersion)
		if r.Health != nil {
			r.Health.Rule = r.ID
		}
		str(&r.Severity)
		str(&r.Status)
		str(&r.Owner)
		str(&r.Late)
		// Lists many rules hold alike: one copy each.
		r.Streams = strSlice(r.Streams)
		r.Tags = strSlice(r.Tags)
		r.KeyNames = strSlice(r.KeyNames)
		for i := range r.Fields {
			str(&r.Fields[i].Name)
		}
		// The positions in the rule hold its file's name too; they take
		// the packed copy, or the parser's would stay.
		if r.Spec != nil && r.Spec.Pos.File == r.File {
			r.Spec.Pos.File = r.File
		}
		for _, p := range append(r.programs(), r.conditions()...) {
			str(&p.Expr.Text)
			if p.Expr.Pos.File == r.File {
				p.Expr.Pos.File = r.File
			}
			if p.rb != nil {
				p.rb = rebuildOf(p.rb)
			}
			if p.path != nil {
				p.path = event.SharedPath(p.path)
			}
			p.reads.paths = pathList(p.reads.paths)
		}
		r.reads.Paths = pathList(r.reads.Paths)
		for i := range r.Constraints {
			c := &r.Constraints[i]
			c.Path = event.SharedPath(c.Path)
			c.Values = strSlice(c.Values)
			for j := range c.Text {
				str(&c.Text[j].Text)
			}
		}
	}
}

// packStrings lays the strings out in one allocation, each then a part
// of it: a rule's own id, title, file name and hashes are one object
// for the collector to mark, not six.
func packStrings(ps ...*string) {
	n := 0
	for _, p := range ps {
		n += len(*p)
	}
	var b strings.Builder
	b.Grow(n)
	for _, p := range ps {
		b.WriteString(*p)
	}
	all := b.String()
	for _, p := range ps {
		*p, all = all[:len(*p)], all[len(*p):]
	}
}
