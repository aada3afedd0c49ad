package correlate

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unsafe"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/jsonx"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/celenv"
	"github.com/cep-project/cep/window"
)

// aggregate is an `aggregate:` rule: CEL computes the where filter, the key
// and the measure arguments; window.Aggregator keeps the windows.
type aggregate struct {
	e *Engine
	r *rules.Rule
	// det is the detector's index in the engine, by which the decoders'
	// work for it is found (preparedKey); -1 for a shard's.
	det      int32
	agg      *window.Aggregator
	kind     window.Kind
	args     []window.Arg
	measures []rules.Measure
	keyBuf   []byte
	gathered
	// act binds measures for having and alerts: the engine's, or a
	// shard's own (shardagg.go).
	act *rules.Activation
}

func (e *Engine) newAggregate(r *rules.Rule) (*aggregate, error) {
	return e.newAggregateWith(r, e.cfg.Limits.MaxKeys, &e.act, e.holder(r))
}

// newAggregateWith is newAggregate with a bound on keys, an activation
// and what holds evidence events (see hold.go) of the caller's.
func (e *Engine) newAggregateWith(r *rules.Rule, maxKeys int, act *rules.Activation, hold func(*event.Event) *event.Event) (*aggregate, error) {
	spec := r.Aggregate.Spec
	kind, err := window.ParseKind(spec.Window.Type)
	if err != nil {
		return nil, err
	}
	cfg := window.Config{
		Window: window.Spec{
			Kind: kind, Size: spec.Window.Size, Slide: spec.Window.Slide,
			Gap: spec.Window.Gap, Length: spec.Window.Count,
		},
		Evidence:    spec.Evidence,
		MaxKeys:     maxKeys,
		MaxDistinct: e.cfg.Limits.MaxDistinct,
	}
	if kind == window.Length && cfg.Window.Expire == 0 {
		// A length window of a key that went quiet is forgotten after a
		// day, so short-lived keys leave nothing behind.
		cfg.Window.Expire = 24 * time.Hour
	}
	for _, m := range r.Aggregate.Measures {
		f, err := window.ParseFunc(m.Func)
		if err != nil {
			return nil, err
		}
		cfg.Measures = append(cfg.Measures, window.Measure{Name: m.Name, Func: f, Approx: m.Approx})
	}
	if t := spec.Top; t != nil {
		cfg.Top = &window.Top{N: t.N, By: t.By}
	}
	// An engine-wide late: correct applies to windows that close; a
	// sliding or length window is evaluated at each event, so there it
	// means taking the late event as it comes. A rule's own late:
	// correct on such a window is refused when the rule loads.
	closes := cfg.Window.Kind == window.Tumbling || cfg.Window.Kind == window.Hopping || cfg.Window.Kind == window.Session
	if e.lateFor(r) == LateCorrect && closes {
		cfg.Late = window.LateCorrect
		cfg.AllowedLateness = e.cfg.CorrectWithin
	}
	d := &aggregate{
		e: e, r: r, det: -1, kind: kind, act: act,
		args:     make([]window.Arg, len(cfg.Measures)),
		measures: r.Aggregate.Measures,
	}
	// An hour's window of a busy key keeps its last events as evidence
	// until it closes: held copies.
	cfg.Hold = hold
	if spec.Top == nil && !e.explaining(r) {
		// Most windows fail the having: they need not be put in order
		// with the others (closed tests it again for the rest).
		cfg.Keep = func(res *window.Result) bool { return d.having(res.Values, res.Count) }
	}
	agg, err := window.New(cfg)
	if err != nil {
		return nil, err
	}
	d.agg = agg
	return d, nil
}

func (d *aggregate) rule() *rules.Rule               { return d.r }
func (d *aggregate) constraints() []rules.Constraint { return d.r.Constraints }
func (d *aggregate) timed() bool                     { return true }

func (d *aggregate) process(ev *event.Event, _ *celenv.Scores) {
	pk := d.e.preparedKey(ev, d.det)
	switch {
	case pk != nil && pk.Decided == whereFalse:
		return
	case pk != nil && pk.Decided == whereTrue:
	case d.r.Aggregate.Where != nil && !d.r.Aggregate.Where.Test(rules.EventActivation{Ev: ev}):
		d.e.explainf(d.r, "where is false")
		return
	}
	// The key is a view of bytes that change after add: the aggregator
	// copies a key new to it and keeps nothing of this one.
	var key string
	if pk != nil && pk.Key != nil {
		key = viewString(pk.Key)
	} else {
		var ok bool
		if d.keyBuf, ok = d.e.encodedKey(d.r, ev, d.keyBuf); !ok {
			return
		}
		key = viewString(d.keyBuf)
	}
	st, res := d.add(key, ev)
	d.added(ev, st, res)
}

// add adds ev to key's windows, and returns what Add said and, when a
// sliding or length window fires at it, the result to alert with. It
// touches nothing of the engine's but the rule's held copies, so a shard
// may call it. It keeps nothing of key, which may be a view of bytes the
// caller changes next (viewString).
func (d *aggregate) add(key string, ev *event.Event) (window.Status, *window.Result) {
	for i, m := range d.measures {
		d.args[i] = window.Arg{}
		if m.Arg == nil {
			continue
		}
		if path := m.Arg.Path(); path != nil {
			// A plain field is read straight from the event.
			if fv, ok := ev.Path(path...); ok {
				d.args[i] = fieldArg(fv)
			} else {
				d.args[i] = window.Arg{Missing: true}
			}
			continue
		}
		v, err := m.Arg.Value(rules.EventActivation{Ev: ev})
		if err != nil {
			d.args[i] = window.Arg{Missing: true}
			continue
		}
		d.args[i] = windowArg(v)
	}
	cur, st := d.agg.Add(key, ev.Time, d.args, ev)
	if cur == nil || st != window.Applied && st != window.Corrected {
		return st, nil
	}
	h := d.having(cur.Values, cur.Count)
	if d.e.explaining(d.r) {
		d.e.explainf(d.r, "window (%s, %s] of key %s: %s, having %v", fmtTime(cur.Start), fmtTime(cur.End), key, d.describe(cur.Values), h)
	}
	if cur.Fire(h) {
		return st, cur.Result()
	}
	return st, nil
}

// added does, on the engine's goroutine, what add's outcome calls for:
// count a late or dropped event, or alert.
func (d *aggregate) added(ev *event.Event, st window.Status, res *window.Result) {
	switch st {
	case window.Applied, window.Corrected:
		if res != nil {
			d.alert(res)
		}
	case window.Late:
		d.e.lateInWindow(d.r, ev)
	default:
		d.e.shed(d.r, ev, st.String())
	}
}

func (d *aggregate) snapshot(put func(string, []byte) error) error {
	b, err := d.agg.MarshalBinary()
	if err != nil {
		return err
	}
	return put("window", b)
}

func (d *aggregate) restore(key string, val []byte) error {
	if key != "window" {
		return fmt.Errorf("an aggregate rule has no state %q", key)
	}
	return d.agg.UnmarshalBinary(val)
}

func (d *aggregate) advance(wm int64) {
	d.agg.Advance(wm, d.closed, d.report)
}

// closed alerts on a window that closed when the rule's having holds.
func (d *aggregate) closed(res *window.Result) {
	h := d.having(res.Values, res.Count)
	if d.e.explaining(d.r) {
		d.e.explainf(d.r, "window [%s, %s) of key %s closed: %s, having %v", fmtTime(res.Start), fmtTime(res.End), res.Key, d.describe(res.Values), h)
	}
	if h {
		d.alert(res)
	}
}

// having evaluates the rule's having on measure values; without one every
// window alerts, unless the rule only asks for a top-N report.
func (d *aggregate) having(vals []float64, count int64) bool {
	hp := d.r.Aggregate.Having
	if hp == nil {
		return d.r.Aggregate.Spec.Top == nil && count > 0
	}
	if f := d.r.Aggregate.HavingFast; f != nil {
		return f(vals)
	}
	act := d.act
	act.Reset()
	for i, m := range d.measures {
		act.BindMeasure(m.Name, m.Func, vals[i])
	}
	return hp.Test(act)
}

func (d *aggregate) describe(vals []float64) string {
	b := make([]byte, 0, 64)
	for i, m := range d.measures {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, m.Name...)
		b = append(b, '=')
		b = strconv.AppendFloat(b, vals[i], 'g', 6, 64)
	}
	return string(b)
}

// windowID tells apart alerts of one key whose evidence is the same.
func windowID(res *window.Result) []string {
	return []string{strconv.FormatInt(res.Start, 10), strconv.FormatInt(res.End, 10), strconv.Itoa(res.Revision)}
}

func (d *aggregate) alertID(res *window.Result, key alert.Key, evidence []alert.Evidence) string {
	return alert.MakeID(d.r.ID, key, evidence, windowID(res)...)
}

func (d *aggregate) alert(res *window.Result) {
	key := d.decodeKey(res.Key)
	evidence := make([]alert.Evidence, 0, len(res.Evidence))
	for _, ev := range res.Evidence {
		evidence = append(evidence, alert.Evidence{Step: "window", Event: ev.Thaw()})
	}
	act := &d.e.act
	act.Reset()
	for i, m := range d.measures {
		act.BindMeasure(m.Name, m.Func, res.Values[i])
	}
	act.BindWindow(res.Start, res.End)
	if len(evidence) > 0 {
		act.BindEvent(evidence[len(evidence)-1].Event)
	}
	a := d.e.newAlert(d.r, key, res.End, evidence, act, windowID(res)...)
	for i, m := range d.measures {
		a.Fields[m.Name] = rules.MeasureValue(m.Func, res.Values[i])
	}
	a.Fields["window_start"] = fmtTime(res.Start)
	a.Fields["window_end"] = fmtTime(res.End)
	a.Fields["window_events"] = res.Count
	for _, old := range res.Corrects {
		// having depends only on the values: the superseded result alerted
		// exactly when it holds for them.
		if d.having(old.Values, old.Count) {
			oldEv := make([]alert.Evidence, 0, len(old.Evidence))
			for _, ev := range old.Evidence {
				oldEv = append(oldEv, alert.Evidence{Step: "window", Event: ev})
			}
			a.Corrects = d.alertID(old, key, oldEv)
		}
	}
	if res.Revision > 0 {
		if d.e.explaining(d.r) {
			d.e.explainf(d.r, "correction %d of window [%s, %s) of key %s", res.Revision, fmtTime(res.Start), fmtTime(res.End), res.Key)
		}
	}
	d.e.emit(d.r, a, res.Key)
}

// report turns a top-N report into one alert per window.
func (d *aggregate) report(rep *window.Report) {
	act := &d.e.act
	act.Reset()
	var top []any
	var evidence []alert.Evidence
	for rank, res := range rep.Results {
		entry := map[string]any{"rank": rank + 1, "key": d.decodeKey(res.Key)}
		for i, m := range d.measures {
			entry[m.Name] = rules.MeasureValue(m.Func, res.Values[i])
		}
		top = append(top, entry)
		if n := len(res.Evidence); n > 0 {
			evidence = append(evidence, alert.Evidence{Step: "top" + strconv.Itoa(rank+1), Event: res.Evidence[n-1].Thaw()})
		}
	}
	win := &window.Result{Start: rep.Start, End: rep.End}
	act.BindWindow(rep.Start, rep.End)
	a := d.e.newAlert(d.r, alert.Key{}, rep.End, evidence, act, append(windowID(win), "top")...)
	a.Fields["top"] = top
	a.Fields["top_by"] = rep.By
	a.Fields["window_start"] = fmtTime(rep.Start)
	a.Fields["window_end"] = fmtTime(rep.End)
	if d.e.explaining(d.r) {
		d.e.explainf(d.r, "top %d report for [%s, %s)", len(top), fmtTime(rep.Start), fmtTime(rep.End))
	}
	d.e.emit(d.r, a, "top\x1f"+strconv.FormatInt(rep.End, 10))
}

func fmtTime(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }

// windowArg turns a measure argument's value into what windows add up.
func windowArg(v any) window.Arg {
	switch x := v.(type) {
	case float64:
		return window.N(x)
	case int64:
		return window.N(float64(x))
	case uint64:
		return window.N(float64(x))
	case string:
		return window.S(x)
	case bool:
		return window.S(strconv.FormatBool(x))
	case nil:
		return window.Arg{Missing: true}
	}
	return window.S(fmt.Sprint(v))
}

// encodeKey writes key values as a JSON array: a string that compares equal
// exactly when the values do, and that decodes back into the alert's key.
// A value JSON cannot hold (NaN) is written as its text, so the key stays
// valid JSON and distinct.
func encodeKey(b []byte, vals []any) []byte {
	b = append(b, '[')
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		n := len(b)
		var err error
		if b, err = jsonx.AppendAny(b, v); err != nil {
			b = jsonx.AppendString(b[:n], fmt.Sprint(v))
		}
	}
	return append(b, ']')
}

func (d *aggregate) decodeKey(k string) alert.Key {
	return decodeKey(d.r.KeyNames, k)
}

func decodeKey(names []string, k string) alert.Key { return decodeKeyIn(nil, names, k) }

// decodeKeyIn is decodeKey in into's memory when it has room.
func decodeKeyIn(into alert.Key, names []string, k string) alert.Key {
	// The values go into the alert's key; the list of them need not
	// outlive this call.
	var room [4]any
	vals, ok := keyValues(room[:0], k)
	if !ok {
		var decoded []any
		if err := json.Unmarshal([]byte(k), &decoded); err != nil {
			return alert.Key{}
		}
		vals = decoded
	}
	if len(vals) != len(names) {
		return alert.Key{}
	}
	return makeKeyIn(into, names, vals)
}

// fieldArg is windowArg for a value read from the event.
func fieldArg(v event.Value) window.Arg {
	switch v.Kind() {
	case event.Number:
		return window.N(v.Num())
	case event.String:
		return window.S(v.Str())
	case event.Bool:
		return window.S(strconv.FormatBool(v.Bool()))
	case event.Null:
		return window.Arg{Missing: true}
	}
	return window.S(fmt.Sprint(v.Interface()))
}

func (d *aggregate) stateBytes() int64     { return d.agg.Bytes() }
func (d *aggregate) shed(target int64) int { return d.agg.Shed(target) }

// viewString is b as a string that shares its bytes, for a callee that
// reads it and keeps none of it (window.Aggregator.Add, join.Joiner.Add):
// a string of its own for each event was a quarter of the aggregate
// scenario's allocations.
func viewString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}
