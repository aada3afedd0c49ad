package correlate

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules"
)

// loginElsewhere is a sequence that holds the logins of an hour.
const loginElsewhere = `id: r
title: a login, then one from elsewhere
by: [event.user]
sequence:
  within: 1h
  steps:
    - {name: a, where: event.ok}
    - {name: b, where: event.ok && event.geo.city != a.geo.city}
`

// Sequences, joins and windows' evidence keep held copies of the events
// they hold, the line without its values: their state is a fraction of
// the decoded events', and their alerts, which read the values again, are
// those of events decoded in full.
func TestDetectorsHoldEvents(t *testing.T) {
	for _, rule := range []string{loginElsewhere + `alert:
  fields: {from: a.geo.city}
`, `id: r
title: a login and a failed one
join:
  within: 1h
  sides:
    - {name: a, where: event.ok, by: [event.user]}
    - {name: b, where: "!event.ok", by: [event.user]}
alert:
  fields: {from: a.geo.city}
`, `id: r
title: three logins of a user in an hour
by: [event.user]
aggregate:
  window: {type: tumbling, size: 1h}
  measures: {n: count()}
  having: n >= 3
alert:
  fields: {from: event.geo.city}
`} {
		holds(t, compileRules(t, rule))
	}
}

// sampleBytes is how much more a restored state may take: the lines a
// stream's new Packer samples, which it keeps as they are (see
// event.Packer).
const sampleBytes = 64 << 10

func holds(t *testing.T, rs []*rules.Rule) {
	t.Helper()
	wide := `"user":"u%d","ok":%v,"geo":{"city":"c%d","country":"FR","lat":1.5,"lon":2.5},"ip":"10.0.0.1","device":"d","agent":"Mozilla/5.0","new_device":false,"channel":"web","session":"s%d"`
	// run pushes the events through an engine; with restart it takes a
	// checkpoint halfway, and a new engine restores it and goes on.
	// It returns the alerts, and the state's peak and last size; packed
	// is the lines it packed.
	var packedLines uint64
	run := func(proj *event.Projection, restart bool, cfg Config) (ids []string, bytes, last int64) {
		col := &collector{}
		e, err := New(rs, cfg, col.add)
		if err != nil {
			t.Fatal(err)
		}
		d := event.Decoder{Stream: "auth", Project: proj}
		for i := range 2000 {
			if restart && i == 1000 {
				before := e.RuleStats()["r"].Bytes
				e = restored(t, e, rs, cfg, col)
				if after := e.RuleStats()["r"].Bytes; after > before*11/10+sampleBytes || after < before*9/10 {
					t.Errorf("state of %d bytes after a restore, %d before", after, before)
				}
			}
			line := fmt.Sprintf(`{"id":"e%d","ts":%d,`+wide+`}`, i, 1_700_000_000+i, i%500, i%3 != 0, i%7, i)
			ev, err := d.Decode([]byte(line))
			if err != nil {
				t.Fatal(err)
			}
			e.Push(ev, time.Time{})
			last = e.RuleStats()["r"].Bytes
			bytes = max(bytes, last)
		}
		e.Close()
		packedLines = e.Stats().LinesPacked
		for _, a := range col.alerts {
			// The evidence an alert writes is the events' lines, packed
			// or not while held.
			id := a.ID + " " + fmt.Sprint(a.Fields["from"])
			for _, ev := range a.Events {
				id += " " + string(ev.Event.Raw)
			}
			ids = append(ids, id)
		}
		return ids, bytes, last
	}
	full, fullBytes, _ := run(nil, false, Config{})
	// Other rules read the rest of the event, so the stream's decoders
	// keep it all.
	all := event.NewProjection([][]string{{"user"}, {"ok"}, {"geo"}, {"ip"}, {"device"}, {"agent"}, {"new_device"}, {"channel"}, {"session"}})
	held, heldBytes, heldLast := run(all, false, Config{})
	if packedLines != 0 {
		t.Errorf("%d lines packed without a state budget", packedLines)
	}
	if len(full) < 100 || fmt.Sprint(full) != fmt.Sprint(held) {
		t.Fatalf("rule %s: alerts of projected events (%d) differ from those decoded in full (%d)", rs[0].ID, len(held), len(full))
	}
	// Restored events are held too: the state does not grow back to
	// decoded events' at a restart.
	again, againBytes, _ := run(all, true, Config{})
	if fmt.Sprint(again) != fmt.Sprint(held) {
		t.Fatalf("rule %s: alerts with a restart (%d) differ from those of one run (%d)", rs[0].ID, len(again), len(held))
	}
	if againBytes > heldBytes*11/10+sampleBytes {
		t.Errorf("state of up to %d bytes with a restart, %d in one run", againBytes, heldBytes)
	}
	// Past a quarter of its budget (the engine looks every 1,024 events),
	// the engine packs the lines it holds: the state shrinks, and the
	// alerts stay.
	budget := heldBytes + heldBytes/4
	packed, _, packedLast := run(all, false, Config{Limits: Limits{MaxStateBytes: budget}})
	if fmt.Sprint(packed) != fmt.Sprint(held) {
		t.Fatalf("rule %s: alerts with packed lines (%d) differ from those of one run (%d)", rs[0].ID, len(packed), len(held))
	}
	t.Logf("%s: state of %d bytes at the end, %d lines packed; %d not", rs[0].Title, packedLast, packedLines, heldLast)
	if packedLines == 0 {
		t.Error("no line packed past a quarter of the budget")
	}
	if packedLast > heldLast*9/10 {
		t.Errorf("state of %d bytes at the end with a budget of %d, %d without: the lines were not packed", packedLast, budget, heldLast)
	}
	t.Logf("%s: state of %d bytes, %d decoding in full", rs[0].Title, heldBytes, fullBytes)
	if heldBytes*2 > fullBytes {
		t.Errorf("state of %d bytes, %d decoding in full: the detector keeps decoded events", heldBytes, fullBytes)
	}
}

// restored takes a checkpoint of e, closes nothing, and returns a new
// engine of rs and cfg restored from it, whose alerts go to col.
func restored(t *testing.T, e *Engine, rs []*rules.Rule, cfg Config, col *collector) *Engine {
	t.Helper()
	e2, err := New(rs, cfg, col.add)
	if err != nil {
		t.Fatal(err)
	}
	restoreInto(t, e, e2)
	return e2
}

// restoreInto takes a checkpoint of from and restores it into to, a new
// engine.
func restoreInto(t *testing.T, from, to *Engine) {
	t.Helper()
	r := to.Restore()
	err := from.Snapshot(func(scope, key string, val []byte) error {
		// Snapshot may reuse its buffers; restored state may keep what
		// it is given.
		return r.Entry(scope, key, slices.Clone(val))
	})
	if err == nil {
		err = r.Finish()
	}
	if err != nil {
		t.Fatal(err)
	}
}

// A reload carries the packers over: their dictionaries pack the state
// that moves to the new rules, and the count of packed lines goes on.
func TestReloadKeepsThePackers(t *testing.T) {
	rs := compileRules(t, loginElsewhere)
	wide := `"user":"u%d","ok":true,"geo":{"city":"c%d","country":"FR","lat":1.5,"lon":2.5},"ip":"10.0.0.1","device":"d","agent":"Mozilla/5.0","channel":"web","session":"s%d"`
	e, err := New(rs, Config{Limits: Limits{MaxStateBytes: 100 << 10}}, func(*alert.Alert) {})
	if err != nil {
		t.Fatal(err)
	}
	d := event.Decoder{Stream: "auth", Project: event.NewProjection([][]string{{"user"}, {"ok"}, {"geo"}, {"ip"}, {"device"}, {"agent"}, {"channel"}, {"session"}})}
	for i := range 3000 {
		ev, err := d.Decode(fmt.Appendf(nil, `{"id":"e%d","ts":%d,`+wide+`}`, i, 1_700_000_000+i, i%2000, 0, i))
		if err != nil {
			t.Fatal(err)
		}
		e.Push(ev, time.Time{})
	}
	before := e.Stats().LinesPacked
	if before == 0 {
		t.Fatal("no line packed before the reload")
	}
	ne, _, err := e.Reload(rs)
	if err != nil {
		t.Fatal(err)
	}
	if ne.packers["auth"] != e.packers["auth"] || !ne.packing.Load() {
		t.Error("the reloaded engine has packers of its own")
	}
	if after := ne.Stats().LinesPacked; after <= before {
		t.Errorf("%d lines packed after the reload, %d before: the moved state was not packed again", after, before)
	}
}

// While the engine packs, its decoders pack the lines of the events a
// sequence may hold as they prepare them (Preparer), and the engine holds
// those bytes instead of packing the lines itself: the alerts and the
// count of packed lines are those of packing on the engine. A reload
// carries the packing over to the new engine's decoders.
func TestDecodersPackAhead(t *testing.T) {
	rs := compileRules(t, loginElsewhere+"alert:\n  fields: {from: a.geo.city}\n")
	wide := `"user":"u%d","ok":true,"geo":{"city":"c%d","country":"FR","lat":1.5,"lon":2.5},"ip":"10.0.0.1","device":"d","agent":"Mozilla/5.0","channel":"web","session":"s%d"`
	run := func(prepare bool) (alerts string, packed, ahead uint64) {
		col := &collector{}
		e, err := New(rs, Config{Streams: []string{"auth"}, Limits: Limits{MaxStateBytes: 100 << 10}}, col.add)
		if err != nil {
			t.Fatal(err)
		}
		var prep func([]*event.Event)
		d := event.Decoder{Stream: "auth", Project: event.NewProjection([][]string{{"user"}, {"ok"}, {"geo"}, {"ip"}, {"device"}, {"agent"}, {"channel"}, {"session"}})}
		for i := range 4000 {
			if i == 2000 {
				if e, _, err = e.Reload(rs); err != nil {
					t.Fatal(err)
				}
			}
			if prepare && (i == 0 || i == 2000) {
				if prep = e.Preparer()(); prep == nil {
					t.Fatal("the engine prepares nothing for its sequence")
				}
			}
			ev, err := d.Decode(fmt.Appendf(nil, `{"id":"e%d","ts":%d,`+wide+`}`, i, 1_700_000_000+i, i%700, i%3, i))
			if err != nil {
				t.Fatal(err)
			}
			if prep != nil {
				prep([]*event.Event{ev})
			}
			e.Push(ev, time.Time{})
		}
		e.Close()
		var b strings.Builder
		for _, a := range col.alerts {
			fmt.Fprintln(&b, a.ID, a.Fields["from"])
			for _, ev := range a.Events {
				fmt.Fprintln(&b, string(ev.Event.Raw))
			}
		}
		return b.String(), e.Stats().LinesPacked, e.packers["auth"].PackedAhead()
	}
	want, wantPacked, none := run(false)
	got, gotPacked, ahead := run(true)
	if len(want) < 1000 || got != want {
		t.Fatalf("alerts of lines packed ahead differ from those packed by the engine:\n%.2000s\nwant\n%.2000s", got, want)
	}
	if gotPacked != wantPacked {
		t.Errorf("%d lines packed, %d by the engine alone", gotPacked, wantPacked)
	}
	t.Logf("%d lines packed, %d of them ahead", gotPacked, ahead)
	if none != 0 {
		t.Errorf("%d lines packed ahead without preparation", none)
	}
	if ahead < 2000 {
		t.Errorf("%d held lines of 4,000 packed ahead: the decoders did not pack, or not after the reload", ahead)
	}
}

// Rules that hold the same event hold one copy of it, which keeps what
// any of them reads; a restore makes the copies the checkpoint stores
// apart, one per rule, one again.
func TestRulesShareHeldCopies(t *testing.T) {
	// hourly is a user's hourly measure that never alerts.
	hourly := func(id, measure string) string {
		return fmt.Sprintf("id: %s\ntitle: %s per hour\nby: [event.user]\naggregate:\n  window: {type: tumbling, size: 1h}\n  measures: {m: %s}\n  having: m > 1000000.0\n", id, id, measure)
	}
	rs := compileRules(t, hourly("spend", "sum(event.amount)"), hourly("devices", "count_distinct(event.device)"))
	e, err := New(rs, Config{}, func(*alert.Alert) {})
	if err != nil {
		t.Fatal(err)
	}
	d := event.Decoder{Stream: "payments", Project: rules.Projection(rs, "payments")}
	decode := func(i int) *event.Event {
		ev, err := d.Decode(fmt.Appendf(nil, `{"id":"p%d","ts":%d,"user":"u%d","amount":%d,"device":"d%d","note":"x"}`, i, 1_700_000_000+i, i%3, i, i%5))
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	ev := decode(0)
	c := e.hold(ev)
	if c == ev || !c.Held() || e.hold(ev) != c {
		t.Fatalf("held %p and %p of %p, want one held copy", c, e.hold(ev), ev)
	}
	th := c.Thaw()
	if _, ok := th.Get("amount"); !ok {
		t.Error("the thawed copy lacks what spend reads")
	}
	if _, ok := th.Get("device"); !ok {
		t.Error("the thawed copy lacks what devices reads")
	}
	for i := range 40 {
		e.Push(decode(i), time.Time{})
	}
	// Each rule keeps the last 10 events of each of 3 users' windows as
	// evidence: the same 30 events.
	e2, err := New(rs, Config{}, func(*alert.Alert) {})
	if err != nil {
		t.Fatal(err)
	}
	r := e2.Restore()
	if err := e.Snapshot(func(scope, key string, val []byte) error { return r.Entry(scope, key, slices.Clone(val)) }); err != nil {
		t.Fatal(err)
	}
	if n := len(e2.held.restoring); n != 30 {
		t.Errorf("%d held copies restored, want 30, shared by both rules", n)
	}
	if err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	if e2.held.restoring != nil {
		t.Error("the restore's copies are still kept after it")
	}
}

// TestPackedEvidenceIsTheLine checks that a match's events held with their
// lines packed go into its alert as their lines, and that the alert's
// fields read their values, as without packing.
func TestPackedEvidenceIsTheLine(t *testing.T) {
	rs := compileRules(t, loginElsewhere+"alert:\n  fields: {from: a.geo.city, to: b.geo.city}\n")
	proj := event.NewProjection([][]string{{"user"}, {"ok"}, {"geo"}})
	// A hundred users' logins, so that a match's first login was held
	// once the engine packed what it holds.
	const users = 100
	run := func(cfg Config) (string, uint64) {
		col := &collector{}
		e, err := New(rs, cfg, col.add)
		if err != nil {
			t.Fatal(err)
		}
		d := event.Decoder{Stream: "auth", Project: proj}
		for i := range 2000 {
			line := fmt.Sprintf(`{"id":"e%d","ts":%d,"user":"u%d","ok":%v,"geo":{"city":"c%d","lat":1.5},"agent":"Mozilla/5.0","session":"s%d"}`,
				i, 1_700_000_000+i, i%users, i%3 != 0, i%7, i)
			ev, err := d.Decode([]byte(line))
			if err != nil {
				t.Fatal(err)
			}
			e.Push(ev, time.Time{})
		}
		e.Close()
		if n := e.Stats().StateShed; n > 0 {
			t.Fatalf("%d partial matches shed", n)
		}
		var b strings.Builder
		for _, a := range col.alerts {
			fmt.Fprintln(&b, a.ID, a.Fields["from"], a.Fields["to"])
			for _, ev := range a.Events {
				fmt.Fprintln(&b, " ", string(ev.Event.Raw))
			}
		}
		return b.String(), e.Stats().LinesPacked
	}
	want, _ := run(Config{})
	got, packed := run(Config{Limits: Limits{MaxStateBytes: 60000}})
	if packed == 0 {
		t.Fatal("no line packed")
	}
	if got != want {
		t.Errorf("alerts with packed lines:\n%s\nwithout:\n%s", got, want)
	}
}

// A copy the decoders hold ahead is made before the source numbers its
// event (a pipeline's emitter does, once its decoders are done): the copy
// the engine holds has the event's number and line, so that evidence of
// one time is in the order the events came in, whichever decoder made
// the copies.
func TestHeldAheadTakesTheEventsNumber(t *testing.T) {
	rs := compileRules(t, `id: busy
title: Busy user
by: [event.user]
aggregate:
  window: {type: tumbling, size: 1h}
  measures: {n: count()}
  having: n >= 4
`)
	col := &collector{}
	e, err := New(rs, Config{Streams: []string{"payments"}}, col.add)
	if err != nil {
		t.Fatal(err)
	}
	prep := e.Preparer()()
	if prep == nil {
		t.Fatal("the engine prepares nothing for its window")
	}
	// Two decoders, each numbering the events it decodes itself, take
	// the batches of one second's events in turn.
	decs := []event.Decoder{
		{Stream: "payments", Project: rules.Projection(rs, "payments")},
		{Stream: "payments", Project: rules.Projection(rs, "payments")},
	}
	mk := e.Screens()
	if mk == nil {
		t.Fatal("no screens")
	}
	for i := range decs {
		// Screened events are decoded into slabs, whose events the
		// decoders hold ahead.
		decs[i].SetScreen(mk("payments"))
	}
	seq := uint64(100)
	for b := range 2 {
		d := &decs[b]
		var evs []*event.Event
		for i := range 3 {
			ev, err := d.Decode(fmt.Appendf(nil, `{"id":"p%d-%d","ts":1700000000,"user":"u"}`, b, i))
			if err != nil {
				t.Fatal(err)
			}
			evs = append(evs, ev)
		}
		prep(evs)
		for i, ev := range evs {
			seq++
			ev.Seq, ev.Line = seq, 10*b+i+1
		}
		e.PushBatch(evs, time.Time{})
	}
	e.Close()
	if e.held.ahead == 0 {
		t.Fatal("no copy held ahead: the test would prove nothing")
	}
	if len(col.alerts) != 1 {
		t.Fatalf("%d alerts, want 1", len(col.alerts))
	}
	var got []string
	for _, ev := range col.alerts[0].Events {
		got = append(got, fmt.Sprintf("%s:%d:%d", ev.Event.ID, ev.Event.Line, ev.Event.Seq))
	}
	want := "p0-0:1:101 p0-1:2:102 p0-2:3:103 p1-0:11:104 p1-1:12:105 p1-2:13:106"
	if strings.Join(got, " ") != want {
		t.Errorf("evidence %s, want %s", strings.Join(got, " "), want)
	}
}
