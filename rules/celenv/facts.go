package celenv

import (
	"strconv"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/parser"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/facts"
)

// Facts and context (README "Facts and context"):
//
//	seen(name, key, member)   whether member is in the set fact name of key
//	fact(name, key)           the hash fact name of key: optional.of(text) or optional.none()
//	context(name, id)         the context hash name of id: optional.of(map) or optional.none()
//
// seen and fact judge expiry at the event time of the event under
// evaluation, never at the wall clock: a macro passes event along as a
// hidden last argument, so a rule's answers depend on its events only.

type factsBox struct{ s facts.Store }

// SetFacts sets the store seen, fact and context read; programs compiled
// earlier use it at their next evaluation.
func (env *Env) SetFacts(s facts.Store) { env.facts.Store(&factsBox{s}) }

// Facts returns the store seen, fact and context read, and rules' remember
// writes to.
func (env *Env) Facts() facts.Store { return env.facts.Load().s }

// FactFunctions are the names of the functions that read facts and
// context, for lint's check of their names.
var FactFunctions = map[string]bool{"seen": true, "fact": true, "context": true}

// withEventArg expands name(args...) into name(args..., event).
func withEventArg(name string) parser.MacroExpander {
	return func(eh parser.ExprHelper, _ ast.Expr, args []ast.Expr) (ast.Expr, *common.Error) {
		full := make([]ast.Expr, 0, len(args)+1)
		full = append(full, args...)
		full = append(full, eh.NewIdent("event"))
		return eh.NewCall(name, full...), nil
	}
}

func (env *Env) factFunctions() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Macros(
			cel.GlobalMacro("seen", 3, withEventArg("seen")),
			cel.GlobalMacro("fact", 2, withEventArg("fact")),
		),
		cel.Function("seen",
			cel.Overload("seen_string_dyn_dyn_event", []*cel.Type{cel.StringType, cel.DynType, cel.DynType, cel.DynType}, cel.BoolType,
				cel.FunctionBinding(env.seen))),
		cel.Function("fact",
			cel.Overload("fact_string_dyn_event", []*cel.Type{cel.StringType, cel.DynType, cel.DynType}, cel.OptionalType(cel.StringType),
				cel.FunctionBinding(env.fact))),
		cel.Function("context",
			cel.Overload("context_string_dyn", []*cel.Type{cel.StringType, cel.DynType}, cel.OptionalType(cel.MapType(cel.StringType, cel.StringType)),
				cel.BinaryBinding(env.context))),
	}
}

// FactText is the text a key, member or value is stored as: strings as
// they are, numbers in their JSON form (as in_list compares them), true
// and false. ok is false for null, which names no entity.
func FactText(v ref.Val) (string, bool, ref.Val) {
	switch x := v.(type) {
	case types.String:
		return string(x), true, nil
	case types.Double:
		return event.NumberValue(float64(x)).Text(), true, nil
	case types.Int:
		return event.NumberValue(float64(x)).Text(), true, nil
	case types.Uint:
		return strconv.FormatUint(uint64(x), 10), true, nil
	case types.Bool:
		return strconv.FormatBool(bool(x)), true, nil
	case types.Null:
		return "", false, nil
	case *types.Err:
		return "", false, x
	}
	return "", false, types.NewErr("a fact's key or value must be text, a number or a bool, got %s", v.Type().TypeName())
}

// eventTime is the event time of a hidden event argument.
func eventTime(fn string, v ref.Val) (int64, ref.Val) {
	ev, ok := v.(eventVal)
	if !ok {
		return 0, types.NewErr("%s: needs the event under evaluation (it reads facts at its event time)", fn)
	}
	return ev.ev.Time, nil
}

func (env *Env) seen(args ...ref.Val) ref.Val {
	at, errv := eventTime("seen", args[3])
	if errv != nil {
		return errv
	}
	name := string(args[0].(types.String))
	key, ok, errv := FactText(args[1])
	if errv != nil || !ok {
		return orFalse(errv)
	}
	member, ok, errv := FactText(args[2])
	if errv != nil || !ok {
		return orFalse(errv)
	}
	found, err := env.Facts().Seen(name, key, member, at)
	if err != nil {
		return types.NewErr("seen(%q): %v", name, err)
	}
	return types.Bool(found)
}

func (env *Env) fact(args ...ref.Val) ref.Val {
	at, errv := eventTime("fact", args[2])
	if errv != nil {
		return errv
	}
	name := string(args[0].(types.String))
	key, ok, errv := FactText(args[1])
	if errv != nil {
		return errv
	}
	if !ok {
		return types.OptionalNone
	}
	v, found, err := env.Facts().Fact(name, key, at)
	if err != nil {
		return types.NewErr("fact(%q): %v", name, err)
	}
	if !found {
		return types.OptionalNone
	}
	return types.OptionalOf(types.String(v))
}

func (env *Env) context(name, id ref.Val) ref.Val {
	n := string(name.(types.String))
	key, ok, errv := FactText(id)
	if errv != nil {
		return errv
	}
	if !ok {
		return types.OptionalNone
	}
	m, found, err := env.Facts().Context(n, key)
	if err != nil {
		return types.NewErr("context(%q): %v", n, err)
	}
	if !found {
		return types.OptionalNone
	}
	return types.OptionalOf(types.DefaultTypeAdapter.NativeToValue(m))
}

func orFalse(errv ref.Val) ref.Val {
	if errv != nil {
		return errv
	}
	return types.False
}
