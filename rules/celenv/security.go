package celenv

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/interpreter"

	"github.com/cep-project/cep/event"
)

// Case-insensitive matching and wildcards, as member functions of the
// value under test (README "CEL functions"):
//
//	s.iequals(t)  s.istartsWith(t)  s.iendsWith(t)  s.icontains(t)
//	s.iin([t, ...])  s.icontainsAny([t, ...])  s.istartsWithAny([...])  s.iendsWithAny([...])
//	s.wildcard(p)  s.wildcardCased(p)
//
// The receiver is usually an event field, so it is dynamic: a string is
// compared as it is, a number or bool as the text cep renders for it
// (EventID 4624 iequals "4624"), null matches nothing, and an object or
// array is an error, as it is for CEL's own string functions.

// matchFuncs names the functions whose string argument is folded (or
// compiled) once when the argument is a literal.
var matchFuncs = []struct {
	name  string
	id    string
	match func(n *foldNeedle, s string) bool
}{
	{"iequals", "dyn_iequals_string", (*foldNeedle).equal},
	{"istartsWith", "dyn_istartswith_string", (*foldNeedle).prefixOf},
	{"iendsWith", "dyn_iendswith_string", (*foldNeedle).suffixOf},
	{"icontains", "dyn_icontains_string", (*foldNeedle).in},
}

var listFuncs = []struct {
	name  string
	id    string
	match func(n *foldNeedle, s string) bool
}{
	{"iin", "dyn_iin_list", (*foldNeedle).equal},
	{"istartsWithAny", "dyn_istartswithany_list", (*foldNeedle).prefixOf},
	{"iendsWithAny", "dyn_iendswithany_list", (*foldNeedle).suffixOf},
	{"icontainsAny", "dyn_icontainsany_list", (*foldNeedle).in},
}

// Internal functions the rewrites of missing_fields and lenient_numbers
// insert; their names cannot be written in rule text.
const (
	// FnFalseIfMissing turns an error caused by a missing field into false.
	FnFalseIfMissing = "@false_if_missing"
	// FnNum reads a string holding a number's canonical text as that
	// number, for comparisons with number literals.
	FnNum = "@num"
)

func securityFunctions() []cel.EnvOption {
	var out []cel.EnvOption
	for _, f := range matchFuncs {
		match := f.match
		out = append(out, cel.Function(f.name,
			cel.MemberOverload(f.id, []*cel.Type{cel.DynType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(func(v, arg ref.Val) ref.Val {
					t, r := textOf(arg)
					if r != nil {
						return types.False
					}
					n := newFoldNeedle(t)
					return matchText(v, func(s string) bool { return match(&n, s) })
				}))))
	}
	for _, f := range listFuncs {
		match := f.match
		out = append(out, cel.Function(f.name,
			cel.MemberOverload(f.id, []*cel.Type{cel.DynType, cel.ListType(cel.StringType)}, cel.BoolType,
				cel.BinaryBinding(func(v, list ref.Val) ref.Val {
					needles, err := needlesOf(list)
					if err != nil {
						return err
					}
					return matchText(v, func(s string) bool { return anyNeedle(needles, match, s) })
				}))))

	}
	for _, f := range []struct {
		name, id string
		cased    bool
	}{{"wildcard", "dyn_wildcard_string", false}, {"wildcardCased", "dyn_wildcardcased_string", true}} {
		cased := f.cased
		out = append(out, cel.Function(f.name,
			cel.MemberOverload(f.id, []*cel.Type{cel.DynType, cel.StringType}, cel.BoolType,
				cel.BinaryBinding(func(v, p ref.Val) ref.Val {
					t, r := textOf(p)
					if r != nil {
						return types.False
					}
					w := CompileWildcard(t, cased)
					return matchText(v, w.Match)
				}))))
	}
	out = append(out,
		cel.Function("keywords",
			cel.Overload("keywords_dyn_list", []*cel.Type{cel.DynType, cel.ListType(cel.StringType)}, cel.BoolType,
				cel.BinaryBinding(func(v, list ref.Val) ref.Val {
					needles, err := needlesOf(list)
					if err != nil {
						return err
					}
					return keywordsIn(v, newMultiNeedle(needles).in)
				}))),
		cel.Function("keywordsLike",
			cel.Overload("keywordslike_dyn_list", []*cel.Type{cel.DynType, cel.ListType(cel.StringType)}, cel.BoolType,
				cel.BinaryBinding(func(v, list ref.Val) ref.Val {
					ws, err := wildcardsOf(list)
					if err != nil {
						return err
					}
					return keywordsIn(v, anyWildcard(ws))
				}))),
		cel.Function(FnFalseIfMissing,
			cel.Overload("false_if_missing_bool", []*cel.Type{cel.BoolType}, cel.BoolType,
				cel.OverloadIsNonStrict(),
				cel.UnaryBinding(falseIfMissing))),
		cel.Function(FnNum,
			cel.Overload("num_dyn", []*cel.Type{cel.DynType}, cel.DynType,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					if s, ok := v.(types.String); ok {
						if f, ok := canonicalNumber(string(s)); ok {
							return types.Double(f)
						}
					}
					return v
				}))),
	)
	return out
}

// keywordsIn is Sigma's keyword search: any string (or number) anywhere in
// an event or object passes test.
func keywordsIn(v ref.Val, test func(string) bool) ref.Val {
	var walk func(x *event.Value) bool
	walk = func(x *event.Value) bool {
		switch x.Kind() {
		case event.String:
			return test(x.Str())
		case event.Number:
			return test(x.Text())
		case event.Object, event.Array:
			for i := 0; i < x.Len(); i++ {
				if walk(x.Elem(i)) {
					return true
				}
			}
		}
		return false
	}
	switch x := v.(type) {
	case eventVal:
		fs := x.ev.Full()
		for i := range fs {
			if walk(&fs[i].Value) {
				return types.True
			}
		}
		return types.False
	case objectVal:
		return types.Bool(walk(x.v))
	case partVal:
		v := x.whole()
		return types.Bool(walk(&v))
	case arrayVal:
		return types.Bool(walk(x.v))
	}
	return matchText(v, test)
}

func wildcardsOf(list ref.Val) ([]*Wildcard, ref.Val) {
	needles, err := needlesOf(list)
	if err != nil {
		return nil, err
	}
	ws := make([]*Wildcard, len(needles))
	for i, n := range needles {
		ws[i] = CompileWildcard(n.s, false)
	}
	return ws, nil
}

func anyWildcard(ws []*Wildcard) func(string) bool {
	return func(s string) bool {
		for _, w := range ws {
			if w.Match(s) {
				return true
			}
		}
		return false
	}
}

func falseIfMissing(v ref.Val) ref.Val {
	if e, ok := v.(*types.Err); ok && IsMissingField(e) {
		return types.False
	}
	return v
}

// MissingFieldError is the error of reading a field an event (or an
// object in it) does not have.
type MissingFieldError struct{ Key string }

func (e *MissingFieldError) Error() string { return "no such key: " + e.Key }

// IsMissingField reports whether err comes from reading a missing field:
// the event views' own error, or cel-go's for a map (its attribute
// resolution reports an absent key as "no such key: K").
func IsMissingField(err error) bool {
	var m *MissingFieldError
	if errors.As(err, &m) {
		return true
	}
	return err != nil && strings.HasPrefix(err.Error(), "no such key: ")
}

// textOf renders a scalar as the text matching compares.
func textOf(v ref.Val) (string, ref.Val) {
	switch x := v.(type) {
	case types.String:
		return string(x), nil
	case types.Double:
		return strconv.FormatFloat(float64(x), 'f', -1, 64), nil
	case types.Int:
		return strconv.FormatInt(int64(x), 10), nil
	case types.Uint:
		return strconv.FormatUint(uint64(x), 10), nil
	case types.Bool:
		return strconv.FormatBool(bool(x)), nil
	case types.Null:
		return "", types.False
	}
	return "", types.MaybeNoSuchOverloadErr(v)
}

func matchText(v ref.Val, match func(string) bool) ref.Val {
	s, r := textOf(v)
	if r != nil {
		return r
	}
	return types.Bool(match(s))
}

func needlesOf(list ref.Val) ([]foldNeedle, ref.Val) {
	l, ok := list.(traits.Lister)
	if !ok {
		return nil, types.MaybeNoSuchOverloadErr(list)
	}
	var out []foldNeedle
	for it := l.Iterator(); it.HasNext() == types.True; {
		s, ok := it.Next().(types.String)
		if !ok {
			return nil, types.NewErr("the list must hold strings")
		}
		out = append(out, newFoldNeedle(string(s)))
	}
	return out, nil
}

func anyNeedle(ns []foldNeedle, match func(*foldNeedle, string) bool, s string) bool {
	for i := range ns {
		if match(&ns[i], s) {
			return true
		}
	}
	return false
}

// listTester builds the test of a list function over folded needles.
func listTester(name string, needles []foldNeedle) func(string) bool {
	if name == "icontainsAny" {
		return sharedMultiNeedle(needles).in
	}
	for _, f := range listFuncs {
		if f.name == name {
			match := f.match
			return func(s string) bool { return anyNeedle(needles, match, s) }
		}
	}
	return nil
}

// Precompiled returns the program options that fold the literal needles of
// the matching functions and compile literal wildcard patterns once, when
// a program is planned, in the way cel.OptimizeRegex precompiles matches;
// a literal list of needles (a constant once cel.OptOptimize has folded
// it) is prepared the same way. The options hold no state of their own,
// so every program shares one set: building it per program cost 1.5 KB
// of every compiled rule.
func Precompiled() []cel.ProgramOption { return precompiled() }

// precompiled is clipped, so that a caller appending to it copies it.
var precompiled = sync.OnceValue(func() []cel.ProgramOption {
	return slices.Clip([]cel.ProgramOption{precompiledStrings(), cel.CustomDecoratorV2(precompileLists)})
})

func precompileLists(i interpreter.InterpretableV2) (interpreter.InterpretableV2, error) {
	call, ok := i.(interpreter.InterpretableCall)
	if !ok || len(call.Args()) != 2 {
		return i, nil
	}
	isList := call.OverloadID() == "keywords_dyn_list" || call.OverloadID() == "keywordslike_dyn_list"
	for _, f := range listFuncs {
		if f.id == call.OverloadID() {
			isList = true
		}
	}
	if !isList {
		return i, nil
	}
	c, ok := call.Args()[1].(interpreter.InterpretableConst)
	if !ok {
		return i, nil
	}
	needles, errv := needlesOf(c.Value())
	if errv != nil {
		return i, nil
	}
	if call.Function() == "keywordsLike" {
		ws, _ := wildcardsOf(c.Value())
		test := anyWildcard(ws)
		return interpreter.NewCall(call.ID(), call.Function(), call.OverloadID(), call.Args(), func(vals ...ref.Val) ref.Val {
			return keywordsIn(vals[0], test)
		}), nil
	}
	if call.Function() == "keywords" {
		m := sharedMultiNeedle(needles)
		return interpreter.NewCall(call.ID(), call.Function(), call.OverloadID(), call.Args(), func(vals ...ref.Val) ref.Val {
			return keywordsIn(vals[0], m.in)
		}), nil
	}
	test := listTester(call.Function(), needles)
	return interpreter.NewCall(call.ID(), call.Function(), call.OverloadID(), call.Args(), func(vals ...ref.Val) ref.Val {
		return matchText(vals[0], test)
	}), nil
}

func precompiledStrings() cel.ProgramOption {
	var opts []*interpreter.RegexOptimization
	for _, f := range matchFuncs {
		match := f.match
		opts = append(opts, &interpreter.RegexOptimization{
			Function: f.name, OverloadID: f.id, RegexIndex: 1,
			Factory: func(call interpreter.InterpretableCall, lit string) (interpreter.InterpretableCall, error) {
				n := newFoldNeedle(lit)
				return interpreter.NewCall(call.ID(), call.Function(), call.OverloadID(), call.Args(), func(vals ...ref.Val) ref.Val {
					return matchText(vals[0], func(s string) bool { return match(&n, s) })
				}), nil
			},
		})
	}
	for _, f := range []struct {
		name, id string
		cased    bool
	}{{"wildcard", "dyn_wildcard_string", false}, {"wildcardCased", "dyn_wildcardcased_string", true}} {
		cased := f.cased
		opts = append(opts, &interpreter.RegexOptimization{
			Function: f.name, OverloadID: f.id, RegexIndex: 1,
			Factory: func(call interpreter.InterpretableCall, lit string) (interpreter.InterpretableCall, error) {
				w := CompileWildcard(lit, cased)
				return interpreter.NewCall(call.ID(), call.Function(), call.OverloadID(), call.Args(), func(vals ...ref.Val) ref.Val {
					return matchText(vals[0], w.Match)
				}), nil
			},
		})
	}
	return cel.OptimizeRegex(opts...)
}
