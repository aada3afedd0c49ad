package celenv

import (
	"math"
	"regexp/syntax"
	"strings"

	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/overloads"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"
)

// CostEstimator estimates the cost of rule expressions at load. Strings and
// lists read from events are bounded by maxSize (decoded lines are bounded,
// so that is an upper bound); what CEL knows itself — literals, and loop
// variables over literal lists — keeps CEL's own, exact, sizes. Every
// function of this package has an estimate, and matches with a literal
// pattern is costed by the size of its compiled program rather than the
// length of its text.
func CostEstimator(maxSize uint64) checker.CostEstimator { return costEstimator{max: maxSize} }

type costEstimator struct{ max uint64 }

func (c costEstimator) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	// A loop variable over a literal list has the path [@items]; CEL knows
	// the sizes of the literal's elements, so it must not be overridden.
	if p := n.Path(); len(p) > 0 && strings.HasPrefix(p[0], "@") {
		return nil
	}
	if sz := n.ComputedSize(); sz != nil {
		return sz
	}
	return &checker.SizeEstimate{Min: 0, Max: c.max}
}

func (c costEstimator) size(n checker.AstNode) checker.SizeEstimate {
	if sz := n.ComputedSize(); sz != nil {
		return *sz
	}
	if n.Expr().Kind() == ast.LiteralKind {
		if s, ok := n.Expr().AsLiteral().(types.String); ok {
			l := uint64(len([]rune(string(s))))
			return checker.SizeEstimate{Min: l, Max: l}
		}
	}
	if sz := c.EstimateSize(n); sz != nil {
		return *sz
	}
	return checker.SizeEstimate{Min: 0, Max: c.max}
}

// traverse is the cost of reading a string of the given size once.
func traverse(sz checker.SizeEstimate) checker.CostEstimate {
	return sz.MultiplyByCostFactor(common.StringTraversalCostFactor)
}

func fixed(n uint64) *checker.CallEstimate {
	return &checker.CallEstimate{CostEstimate: checker.CostEstimate{Min: n, Max: n}}
}

// listNeedles sums the sizes of the strings of a literal list, or bounds
// them by the list's size times the field bound.
func (c costEstimator) listNeedles(n checker.AstNode) (count, total checker.SizeEstimate) {
	if e := n.Expr(); e.Kind() == ast.ListKind {
		var sum uint64
		elems := e.AsList().Elements()
		literal := true
		for _, el := range elems {
			s, ok := literalString(el)
			if !ok {
				literal = false
				break
			}
			sum += uint64(len([]rune(s)))
		}
		if literal {
			k := uint64(len(elems))
			return checker.SizeEstimate{Min: k, Max: k}, checker.SizeEstimate{Min: sum, Max: sum}
		}
	}
	cnt := c.size(n)
	return cnt, checker.SizeEstimate{Min: 0, Max: satMul(cnt.Max, c.max)}
}

// literalNeedles sums the lengths of a literal list's strings the
// automaton holds (ASCII and caseless runes) and of the others.
func literalNeedles(n checker.AstNode) (ascii, other uint64, ok bool) {
	e := n.Expr()
	if e.Kind() != ast.ListKind {
		return 0, 0, false
	}
	for _, el := range e.AsList().Elements() {
		s, ok := literalString(el)
		if !ok {
			return 0, 0, false
		}
		if automatable(s) {
			ascii += uint64(len(s))
		} else {
			other += uint64(len([]rune(s)))
		}
	}
	return ascii, other, true
}

func literalString(e ast.Expr) (string, bool) {
	if e.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

func satMul(a, b uint64) uint64 {
	if a != 0 && b > math.MaxUint64/a {
		return math.MaxUint64
	}
	return a * b
}

func (c costEstimator) EstimateCallCost(function, overloadID string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	recv := func() checker.SizeEstimate {
		if target != nil {
			return c.size(*target)
		}
		return c.size(args[0])
	}
	arg := func(i int) checker.AstNode {
		if target != nil {
			return args[i]
		}
		return args[i+1]
	}
	switch function {
	case "iequals", "istartsWith", "iendsWith", "equals_ignore_case":
		// At most the shorter string is read.
		a, b := recv(), c.size(arg(0))
		m := min(a.Max, b.Max)
		return &checker.CallEstimate{CostEstimate: traverse(checker.SizeEstimate{Min: 0, Max: m}).Add(checker.CostEstimate{Min: 1, Max: 1})}
	case "icontains", "contains_ignore_case":
		// The naive search is O(n·m), as CEL costs contains.
		a, b := recv(), c.size(arg(0))
		return &checker.CallEstimate{CostEstimate: traverse(a).Multiply(traverse(b)).Add(checker.CostEstimate{Min: 1, Max: 1})}
	case "iin", "istartsWithAny", "iendsWithAny":
		cnt, total := c.listNeedles(arg(0))
		a := recv()
		// Each needle reads at most min(|s|, |needle|) characters.
		per := traverse(checker.SizeEstimate{Min: 0, Max: min(a.Max, total.Max)})
		return &checker.CallEstimate{CostEstimate: per.Add(checker.CostEstimate{Min: 1, Max: max(1, cnt.Max)})}
	case "icontainsAny":
		a := recv()
		if ascii, other, ok := literalNeedles(arg(0)); ok {
			// One pass of the automaton over the field for the ASCII
			// needles (built once, at load), and a search per needle
			// for the others.
			est := traverse(a).Add(traverse(checker.SizeEstimate{Min: ascii, Max: ascii}))
			if other > 0 {
				est = est.Add(traverse(a).Multiply(traverse(checker.SizeEstimate{Min: other, Max: other})))
			}
			return &checker.CallEstimate{CostEstimate: est.Add(checker.CostEstimate{Min: 1, Max: 1})}
		}
		_, total := c.listNeedles(arg(0))
		return &checker.CallEstimate{CostEstimate: traverse(a).Multiply(traverse(total)).Add(checker.CostEstimate{Min: 1, Max: 1})}
	case "keywords":
		// Every value of the event, at most the line, read once.
		line := checker.SizeEstimate{Min: 0, Max: c.max}
		if ascii, other, ok := literalNeedles(args[1]); ok {
			est := traverse(line).Add(traverse(checker.SizeEstimate{Min: ascii, Max: ascii}))
			if other > 0 {
				est = est.Add(traverse(line).Multiply(traverse(checker.SizeEstimate{Min: other, Max: other})))
			}
			return &checker.CallEstimate{CostEstimate: est.Add(checker.CostEstimate{Min: 1, Max: 1})}
		}
		_, total := c.listNeedles(args[1])
		return &checker.CallEstimate{CostEstimate: traverse(line).Multiply(traverse(total)).Add(checker.CostEstimate{Min: 1, Max: 1})}
	case "keywordsLike":
		line := checker.SizeEstimate{Min: 0, Max: c.max}
		_, total := c.listNeedles(args[1])
		return &checker.CallEstimate{CostEstimate: traverse(line).Multiply(traverse(total)).Add(checker.CostEstimate{Min: 1, Max: 1})}
	case "wildcard", "wildcardCased":
		// The matcher is linear for the common shapes and O(n·m) at worst.
		a := recv()
		p := c.size(arg(0))
		return &checker.CallEstimate{CostEstimate: traverse(a).Multiply(traverse(p)).Add(checker.CostEstimate{Min: 1, Max: 1})}
	case FnFalseIfMissing, FnNum, "is_private_ip", "ts", "geo_distance_km":
		return fixed(1)
	case "hours_between":
		return fixed(2)
	case "in_list":
		// A hash lookup: the value is hashed once.
		v := c.size(arg(0))
		return &checker.CallEstimate{CostEstimate: traverse(v).Add(checker.CostEstimate{Min: 1, Max: 1})}
	case "in_cidr":
		if overloadID == "in_cidr_string_list" {
			cnt, _ := c.listNeedles(arg(0))
			return &checker.CallEstimate{CostEstimate: checker.CostEstimate{Min: 1, Max: max(1, cnt.Max)}}
		}
		return fixed(1)
	}
	switch overloadID {
	case overloads.Matches, overloads.MatchesString:
		var str, re checker.AstNode
		if target != nil {
			str, re = *target, args[0]
		} else {
			str, re = args[0], args[1]
		}
		pattern, ok := literalString(re.Expr())
		if !ok {
			return nil
		}
		insts, ok := regexInsts(pattern)
		if !ok {
			return nil
		}
		// RE2 runs in time proportional to the input times the states it
		// can hold: the input-consuming instructions of the compiled
		// program, costed as CEL costs a regex's characters.
		s := c.size(str).Add(checker.SizeEstimate{Min: 1, Max: 1})
		per := checker.SizeEstimate{Min: insts, Max: insts}.MultiplyByCostFactor(common.RegexStringLengthCostFactor)
		return &checker.CallEstimate{CostEstimate: traverse(s).Multiply(per)}
	}
	return nil
}

// regexInsts counts the instructions of a pattern's compiled program that
// consume input.
func regexInsts(pattern string) (uint64, bool) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return 0, false
	}
	prog, err := syntax.Compile(re.Simplify())
	if err != nil {
		return 0, false
	}
	var n uint64
	for _, in := range prog.Inst {
		switch in.Op {
		case syntax.InstRune, syntax.InstRune1, syntax.InstRuneAny, syntax.InstRuneAnyNotNL:
			n++
		}
	}
	return max(n, 1), true
}

// ActualCost reports the cost of calls to this package's functions as they
// are evaluated, for the runtime cost limit (cel.CostTracking).
type ActualCost struct{}

var _ interpreter.ActualCostEstimator = ActualCost{}

// CallCost implements interpreter.ActualCostEstimator.
func (ActualCost) CallCost(function, overloadID string, args []ref.Val, result ref.Val) *uint64 {
	strLen := func(v ref.Val) uint64 {
		if s, ok := v.(types.String); ok {
			return uint64(len(s))
		}
		return 1
	}
	tenth := func(n uint64) *uint64 { c := 1 + n/10; return &c }
	switch function {
	case "iequals", "istartsWith", "iendsWith", "equals_ignore_case":
		if len(args) == 2 {
			return tenth(min(strLen(args[0]), strLen(args[1])))
		}
	case "icontains", "contains_ignore_case", "wildcard", "wildcardCased":
		if len(args) == 2 {
			c := 1 + (strLen(args[0])/10+1)*(strLen(args[1])/10+1)
			return &c
		}
	case "iin", "istartsWithAny", "iendsWithAny", "icontainsAny":
		if len(args) == 2 {
			var total uint64
			if l, ok := args[1].(traits.Lister); ok {
				for it := l.Iterator(); it.HasNext() == types.True; {
					total += strLen(it.Next())
				}
			}
			if function == "icontainsAny" {
				c := 1 + (strLen(args[0])/10+1)*(total/10+1)
				return &c
			}
			return tenth(total)
		}
	case FnFalseIfMissing, FnNum, "is_private_ip", "ts", "geo_distance_km", "hours_between", "in_cidr":
		c := uint64(1)
		return &c
	case "keywords", "keywordsLike":
		if len(args) == 2 {
			var n uint64
			if e, ok := args[0].(eventVal); ok {
				n = uint64(len(e.ev.Raw))
			}
			return tenth(n)
		}
	case "in_list":
		if len(args) == 2 {
			return tenth(strLen(args[1]))
		}
	}
	return nil
}
