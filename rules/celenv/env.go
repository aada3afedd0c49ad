// Package celenv is the CEL environment of rule expressions: the functions
// beyond standard CEL (README "CEL functions"), the CEL views of decoded
// events (read in place, without building a map per event), the conversion
// of results back to Go values, and the fast path — native predicates for
// the comparisons most conditions are made of, held to CEL's answers.
package celenv

import (
	"fmt"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"

	"github.com/cep-project/cep/facts"
	"github.com/cep-project/cep/rules/reflist"
)

// MaxExpressionSize is the longest expression text, in code points.
const MaxExpressionSize = 1 << 20

// EventType is the CEL type of an event: a map from field names to
// dynamic values, the same view CEL takes of JSON.
var EventType = cel.MapType(cel.StringType, cel.DynType)

// Env holds the two base environments every rule expression extends.
// Environments are safe to share between goroutines.
type Env struct {
	// Event declares event; conditions, keys and fields extend it.
	Event *cel.Env
	// Bare lacks event, for expressions that see only their own
	// variables, such as having, which sees the measures.
	Bare  *cel.Env
	lists atomic.Pointer[reflist.Set]
	facts atomic.Pointer[factsBox]
}

// New builds the environment; in_list reads lists (nil: no lists).
func New(lists *reflist.Set) (*Env, error) {
	env := &Env{}
	if lists == nil {
		lists = reflist.New(nil)
	}
	env.lists.Store(lists)
	// Without a store of their own, rules remember in memory, as in a
	// run without Redis.
	env.SetFacts(facts.NewMemory())
	opts := []cel.EnvOption{
		// Detection rules carry long lists of indicators (hashes,
		// driver names): allow expressions of a MiB, not 100 KB.
		cel.ParserExpressionSizeLimit(MaxExpressionSize),
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Regex(),
		ext.Network(),
		ext.Math(),
		ext.Lists(),
		ext.Sets(),
		cel.ASTValidators(
			regexLiterals{},
			cel.ValidateDurationLiterals(),
			cel.ValidateTimestampLiterals(),
			cel.ValidateComprehensionNestingLimit(2),
		),
	}
	opts = append(opts, env.functions()...)
	opts = append(opts, env.factFunctions()...)
	opts = append(opts, securityFunctions()...)
	bare, err := cel.NewEnv(opts...)
	if err != nil {
		return nil, fmt.Errorf("building the CEL environment: %w", err)
	}
	withEvent, err := bare.Extend(cel.Variable("event", EventType))
	if err != nil {
		return nil, fmt.Errorf("building the CEL environment: %w", err)
	}
	env.Event, env.Bare = withEvent, bare
	return env, nil
}

// SetLists replaces the reference lists; programs compiled earlier see the
// new lists at their next evaluation.
func (env *Env) SetLists(l *reflist.Set) { env.lists.Store(l) }

// Lists returns the current reference lists.
func (env *Env) Lists() *reflist.Set { return env.lists.Load() }

// ByteOffset turns CEL's 1-based line and 0-based rune column into a byte
// offset of the expression text.
func ByteOffset(text string, line, col int) int {
	off := 0
	for l := 1; l < line; l++ {
		i := strings.IndexByte(text[off:], '\n')
		if i < 0 {
			break
		}
		off += i + 1
	}
	for c := 0; c < col && off < len(text); c++ {
		_, w := utf8.DecodeRuneInString(text[off:])
		off += w
	}
	return off
}
