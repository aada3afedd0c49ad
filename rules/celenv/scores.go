package celenv

import (
	"reflect"
	"strconv"
	"strings"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// Scores are the anomaly z-scores of one event, by baseline name: the CEL
// value of anomaly.
type Scores struct {
	Names []string
	Z     []float64
}

var _ traits.Mapper = (*Scores)(nil)

// Find implements traits.Mapper.
func (s *Scores) Find(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(key), false
	}
	for i, n := range s.Names {
		if n == string(k) {
			return types.Double(s.Z[i]), true
		}
	}
	return nil, false
}

// Get implements traits.Indexer.
func (s *Scores) Get(key ref.Val) ref.Val {
	if v, ok := s.Find(key); ok {
		return v
	}
	return types.NewErr("no baseline named %v", key)
}

// Contains implements traits.Container.
func (s *Scores) Contains(key ref.Val) ref.Val {
	_, ok := s.Find(key)
	return types.Bool(ok)
}

// Size implements traits.Sizer.
func (s *Scores) Size() ref.Val { return types.Int(len(s.Names)) }

// Iterator implements traits.Iterable.
func (s *Scores) Iterator() traits.Iterator {
	return &indexIter{n: len(s.Names), get: func(i ref.Val) ref.Val { return types.String(s.Names[i.(types.Int)]) }}
}

// Type implements ref.Val.
func (s *Scores) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (s *Scores) Value() any {
	m := map[string]any{}
	for i, n := range s.Names {
		m[n] = s.Z[i]
	}
	return m
}

// ConvertToNative implements ref.Val.
func (s *Scores) ConvertToNative(reflect.Type) (any, error) { return s.Value(), nil }

// ConvertToType implements ref.Val.
func (s *Scores) ConvertToType(t ref.Type) ref.Val { return convertType(s, t) }

// Equal implements ref.Val.
func (s *Scores) Equal(o ref.Val) ref.Val { return types.Bool(o == ref.Val(s)) }

// String renders the scores for explain output.
func (s *Scores) String() string {
	var b strings.Builder
	for i, n := range s.Names {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(n)
		b.WriteByte('=')
		b.WriteString(strconv.FormatFloat(s.Z[i], 'g', 4, 64))
	}
	return b.String()
}
