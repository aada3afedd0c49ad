package celenv

import (
	"fmt"
	"reflect"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/cep-project/cep/event"
)

// The CEL views of events read the decoded fields in place: no map is built
// per event, and an expression that reads two fields converts two values.
// Both view types hold one pointer, so putting one in an interface does not
// allocate.

// eventVal is the CEL value of an event: a map from field name to value.
type eventVal struct{ ev *event.Event }

// objectVal is the CEL value of a nested object or an array.
type objectVal struct{ v *event.Value }

var (
	_ traits.Mapper = eventVal{}
	_ traits.Mapper = objectVal{}
	_ traits.Lister = arrayVal{}
)

// EventValue returns the CEL value of ev.
func EventValue(ev *event.Event) ref.Val { return eventVal{ev} }

func fieldVal(fs []event.Field, i int) ref.Val { return valueOf(&fs[i].Value) }

func valueOf(v *event.Value) ref.Val {
	switch v.Kind() {
	case event.String:
		return types.String(v.Str())
	case event.Number:
		return types.Double(v.Num())
	case event.Bool:
		return types.Bool(v.Bool())
	case event.Object:
		return objectVal{v}
	case event.Array:
		return arrayVal{v}
	}
	return types.NullValue
}

func findField(fs []event.Field, key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(key), false
	}
	s := string(k)
	for i := len(fs) - 1; i >= 0; i-- {
		if fs[i].Key == s {
			return fieldVal(fs, i), true
		}
	}
	return nil, false
}

func getField(find func(ref.Val) (ref.Val, bool), key ref.Val) ref.Val {
	v, ok := find(key)
	if !ok {
		if v != nil {
			return v
		}
		return types.WrapErr(&MissingFieldError{Key: string(key.(types.String))})
	}
	return v
}

func containsField(find func(ref.Val) (ref.Val, bool), key ref.Val) ref.Val {
	v, ok := find(key)
	if !ok && v != nil {
		return v
	}
	return types.Bool(ok)
}

// An event decoded with a projection holds only the members its rules
// read (event.Event.Projected). The view reads it in place as long as
// that gives the answer a whole decode would, and the whole event
// (Event.Full) otherwise: a member the projection left out is looked up
// in full, an object it kept in part (geo holding only country) is a
// partVal, and the size, the keys and the rendering of the event are
// always the whole line's. Reading only projected paths, as the rules the
// projection was made for do, never decodes the whole line.

// findIn looks key up in the members fs of the object at path (nil: the
// event itself) of ev.
func findIn(ev *event.Event, path []string, fs []event.Field, key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return types.MaybeNoSuchOverloadErr(key), false
	}
	s := string(k)
	for i := len(fs) - 1; i >= 0; i-- {
		if fs[i].Key == s {
			if fs[i].Partial() {
				return partVal{ev: ev, path: append(path[:len(path):len(path)], s), v: &fs[i].Value}, true
			}
			return fieldVal(fs, i), true
		}
	}
	if !ev.Projected() {
		return nil, false
	}
	at := append(path[:len(path):len(path)], s)
	if ev.Keeps(at...) {
		return nil, false
	}
	v, ok := ev.Path(at...)
	if !ok {
		return nil, false
	}
	return valueOf(&v), true
}

// Find implements traits.Mapper.
func (e eventVal) Find(key ref.Val) (ref.Val, bool) { return findIn(e.ev, nil, e.ev.Fields, key) }

// Get implements traits.Indexer.
func (e eventVal) Get(key ref.Val) ref.Val { return getField(e.Find, key) }

// Contains implements traits.Container.
func (e eventVal) Contains(key ref.Val) ref.Val { return containsField(e.Find, key) }

// Size implements traits.Sizer.
func (e eventVal) Size() ref.Val { return types.Int(len(e.ev.Full())) }

// Iterator implements traits.Iterable.
func (e eventVal) Iterator() traits.Iterator { return &keyIter{fs: e.ev.Full()} }

// Type implements ref.Val.
func (e eventVal) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (e eventVal) Value() any { return event.ObjectValue(e.ev.Full()).Interface() }

// ConvertToNative implements ref.Val.
func (e eventVal) ConvertToNative(t reflect.Type) (any, error) {
	return convertObject(event.ObjectValue(e.ev.Full()), t)
}

// ConvertToType implements ref.Val.
func (e eventVal) ConvertToType(t ref.Type) ref.Val { return convertType(e, t) }

// Equal implements ref.Val.
func (e eventVal) Equal(o ref.Val) ref.Val {
	if x, ok := o.(eventVal); ok {
		return types.Bool(x.ev == e.ev || string(x.ev.Raw) == string(e.ev.Raw))
	}
	return types.False
}

// partVal is an object of a projected event that holds only its
// projected members (event.Value.Partial): its members are read in place
// where the projection kept them, and its size, keys and rendering come
// from the whole value.
type partVal struct {
	ev   *event.Event
	path []string
	v    *event.Value
}

var _ traits.Mapper = partVal{}

func (o partVal) whole() event.Value {
	v, _ := o.ev.Path(o.path...)
	return v
}

func (o partVal) Find(key ref.Val) (ref.Val, bool) { return findIn(o.ev, o.path, o.v.Fields(), key) }
func (o partVal) Get(key ref.Val) ref.Val          { return getField(o.Find, key) }
func (o partVal) Contains(key ref.Val) ref.Val     { return containsField(o.Find, key) }
func (o partVal) Size() ref.Val                    { return types.Int(o.whole().Len()) }
func (o partVal) Iterator() traits.Iterator        { return &keyIter{fs: o.whole().Fields()} }
func (o partVal) Type() ref.Type                   { return types.MapType }
func (o partVal) Value() any                       { return o.whole().Interface() }
func (o partVal) ConvertToNative(t reflect.Type) (any, error) {
	return convertObject(o.whole(), t)
}
func (o partVal) ConvertToType(t ref.Type) ref.Val { return convertType(o, t) }
func (o partVal) Equal(other ref.Val) ref.Val {
	return types.Bool(reflect.DeepEqual(o.Value(), nativeOf(other)))
}

func (o objectVal) Find(key ref.Val) (ref.Val, bool) { return findField(o.v.Fields(), key) }
func (o objectVal) Get(key ref.Val) ref.Val          { return getField(o.Find, key) }
func (o objectVal) Contains(key ref.Val) ref.Val     { return containsField(o.Find, key) }
func (o objectVal) Size() ref.Val                    { return types.Int(o.v.Len()) }
func (o objectVal) Iterator() traits.Iterator        { return &keyIter{fs: o.v.Fields()} }
func (o objectVal) Type() ref.Type                   { return types.MapType }
func (o objectVal) Value() any                       { return o.v.Interface() }
func (o objectVal) ConvertToNative(t reflect.Type) (any, error) {
	return convertObject(*o.v, t)
}
func (o objectVal) ConvertToType(t ref.Type) ref.Val { return convertType(o, t) }
func (o objectVal) Equal(other ref.Val) ref.Val {
	return types.Bool(reflect.DeepEqual(o.Value(), nativeOf(other)))
}

type arrayVal struct{ v *event.Value }

func (a arrayVal) Get(index ref.Val) ref.Val {
	i, err := types.IndexOrError(index)
	if err != nil {
		return types.WrapErr(err)
	}
	if i < 0 || i >= a.v.Len() {
		return types.NewErr("index %d out of range [0, %d)", i, a.v.Len())
	}
	return valueOf(a.v.Elem(i))
}
func (a arrayVal) Contains(v ref.Val) ref.Val {
	for i := 0; i < a.v.Len(); i++ {
		if a.Get(types.Int(i)).Equal(v) == types.True {
			return types.True
		}
	}
	return types.False
}
func (a arrayVal) Size() ref.Val { return types.Int(a.v.Len()) }
func (a arrayVal) Add(o ref.Val) ref.Val {
	return types.NewDynamicList(types.DefaultTypeAdapter, a.Value()).Add(o)
}
func (a arrayVal) Iterator() traits.Iterator { return &indexIter{n: a.v.Len(), get: a.Get} }
func (a arrayVal) Type() ref.Type            { return types.ListType }
func (a arrayVal) Value() any                { return a.v.Interface() }
func (a arrayVal) ConvertToNative(t reflect.Type) (any, error) {
	return convertObject(*a.v, t)
}
func (a arrayVal) ConvertToType(t ref.Type) ref.Val { return convertType(a, t) }
func (a arrayVal) Equal(other ref.Val) ref.Val {
	return types.Bool(reflect.DeepEqual(a.Value(), nativeOf(other)))
}

// EventList is the CEL value of a looping step: the events it took.
type EventList struct{ Events []*event.Event }

// Get implements traits.Indexer.
func (l *EventList) Get(index ref.Val) ref.Val {
	i, err := types.IndexOrError(index)
	if err != nil {
		return types.WrapErr(err)
	}
	if i < 0 || i >= len(l.Events) {
		return types.NewErr("index %d out of range [0, %d)", i, len(l.Events))
	}
	return eventVal{l.Events[i]}
}

// Contains implements traits.Container.
func (l *EventList) Contains(v ref.Val) ref.Val {
	for _, e := range l.Events {
		if (eventVal{e}).Equal(v) == types.True {
			return types.True
		}
	}
	return types.False
}

// Size implements traits.Sizer.
func (l *EventList) Size() ref.Val { return types.Int(len(l.Events)) }

// Add implements traits.Adder.
func (l *EventList) Add(o ref.Val) ref.Val {
	vals := make([]ref.Val, 0, len(l.Events))
	for _, e := range l.Events {
		vals = append(vals, eventVal{e})
	}
	return types.NewRefValList(types.DefaultTypeAdapter, vals).Add(o)
}

// Iterator implements traits.Iterable.
func (l *EventList) Iterator() traits.Iterator { return &indexIter{n: len(l.Events), get: l.Get} }

// Type implements ref.Val.
func (l *EventList) Type() ref.Type { return types.ListType }

// Value implements ref.Val.
func (l *EventList) Value() any {
	out := make([]any, len(l.Events))
	for i, e := range l.Events {
		out[i] = eventVal{e}.Value()
	}
	return out
}

// ConvertToNative implements ref.Val.
func (l *EventList) ConvertToNative(t reflect.Type) (any, error) {
	if t.Kind() == reflect.Interface {
		return l.Value(), nil
	}
	return nil, fmt.Errorf("cannot convert a step's events to %v", t)
}

// ConvertToType implements ref.Val.
func (l *EventList) ConvertToType(t ref.Type) ref.Val { return convertType(l, t) }

// Equal implements ref.Val.
func (l *EventList) Equal(o ref.Val) ref.Val {
	x, ok := o.(*EventList)
	if !ok || len(x.Events) != len(l.Events) {
		return types.False
	}
	for i := range l.Events {
		if x.Events[i] != l.Events[i] {
			return types.False
		}
	}
	return types.True
}

type keyIter struct {
	fs []event.Field
	i  int
}

func (it *keyIter) HasNext() ref.Val { return types.Bool(it.i < len(it.fs)) }
func (it *keyIter) Next() ref.Val {
	if it.i >= len(it.fs) {
		return nil
	}
	k := it.fs[it.i].Key
	it.i++
	return types.String(k)
}
func (it *keyIter) Type() ref.Type                            { return types.IteratorType }
func (it *keyIter) Value() any                                { return nil }
func (it *keyIter) ConvertToNative(reflect.Type) (any, error) { return nil, fmt.Errorf("iterator") }
func (it *keyIter) ConvertToType(ref.Type) ref.Val            { return types.NewErr("iterator") }
func (it *keyIter) Equal(ref.Val) ref.Val                     { return types.False }

type indexIter struct {
	n, i int
	get  func(ref.Val) ref.Val
}

func (it *indexIter) HasNext() ref.Val { return types.Bool(it.i < it.n) }
func (it *indexIter) Next() ref.Val {
	if it.i >= it.n {
		return nil
	}
	v := it.get(types.Int(it.i))
	it.i++
	return v
}
func (it *indexIter) Type() ref.Type                            { return types.IteratorType }
func (it *indexIter) Value() any                                { return nil }
func (it *indexIter) ConvertToNative(reflect.Type) (any, error) { return nil, fmt.Errorf("iterator") }
func (it *indexIter) ConvertToType(ref.Type) ref.Val            { return types.NewErr("iterator") }
func (it *indexIter) Equal(ref.Val) ref.Val                     { return types.False }

func convertObject(v event.Value, t reflect.Type) (any, error) {
	native := v.Interface()
	if reflect.TypeOf(native).AssignableTo(t) {
		return native, nil
	}
	return nil, fmt.Errorf("cannot convert %s to %v", v.Kind(), t)
}

func convertType(v ref.Val, t ref.Type) ref.Val {
	switch t {
	case v.Type():
		return v
	case types.TypeType:
		return v.Type().(ref.Val)
	}
	return types.NewErr("type conversion error from %s to %s", v.Type().TypeName(), t.TypeName())
}

// NativeValue converts an event value to what Native returns for its CEL
// value, for keys and measure arguments read straight from the event.
func NativeValue(v event.Value) any {
	switch v.Kind() {
	case event.String:
		return v.Str()
	case event.Number:
		return v.Num()
	case event.Bool:
		return v.Bool()
	case event.Null:
		return nil
	}
	return v.Interface()
}

func nativeOf(v ref.Val) any {
	if v == nil {
		return nil
	}
	return Native(v)
}

// Native converts a CEL value into the Go values encoding/json writes:
// nil, bool, int64, uint64, float64, string, []any and map[string]any.
// Timestamps become RFC 3339 text and durations Go duration text, as
// analysts read them in alerts.
func Native(v ref.Val) any {
	switch x := v.(type) {
	case types.Null:
		return nil
	case types.Bool:
		return bool(x)
	case types.Int:
		return int64(x)
	case types.Uint:
		return uint64(x)
	case types.Double:
		return float64(x)
	case types.String:
		return string(x)
	case types.Bytes:
		return []byte(x)
	case types.Timestamp:
		return x.Time.UTC().Format(time.RFC3339Nano)
	case types.Duration:
		return x.String()
	case eventVal, objectVal, partVal, arrayVal, *EventList:
		return x.Value()
	case traits.Mapper:
		out := map[string]any{}
		for it := x.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			out[fmt.Sprint(Native(k))] = Native(x.Get(k))
		}
		return out
	case traits.Lister:
		n := int(x.Size().(types.Int))
		out := make([]any, n)
		for i := 0; i < n; i++ {
			out[i] = Native(x.Get(types.Int(i)))
		}
		return out
	case *types.Optional:
		if x.HasValue() {
			return Native(x.GetValue())
		}
		return nil
	}
	return fmt.Sprint(v.Value())
}

// EventOf returns the event of a value EventValue made.
func EventOf(v any) (*event.Event, bool) {
	e, ok := v.(eventVal)
	return e.ev, ok
}

// ScalarAt is a CEL select of event.a.b (path [a b]) when it ends in a
// string, number, bool or null: the value CEL's select gives. Anything
// else — a missing member, a list on the way, an object, which a projected
// event may hold in part — is left to CEL (ok false).
func ScalarAt(ev *event.Event, path []string) (ref.Val, bool) {
	v, ok := scalarAt(ev, path)
	if !ok {
		return nil, false
	}
	return valueOf(&v), true
}

// NativeScalarAt is ScalarAt as Native would give it.
func NativeScalarAt(ev *event.Event, path []string) (any, bool) {
	v, ok := scalarAt(ev, path)
	if !ok {
		return nil, false
	}
	return NativeValue(v), true
}

func scalarAt(ev *event.Event, path []string) (event.Value, bool) {
	v, t := lookupPath(ev, path)
	if t != True {
		return event.Value{}, false
	}
	switch v.Kind() {
	case event.String, event.Number, event.Bool, event.Null:
		return *v, true
	}
	return event.Value{}, false
}
