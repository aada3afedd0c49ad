package window

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/timerq"
)

// LateMode says what happens to an event whose window was already emitted.
type LateMode uint8

const (
	// LateCount counts the event (Stats.Late), reports it as Late and leaves
	// emitted results alone.
	LateCount LateMode = iota
	// LateCorrect keeps each emitted window's state until its end plus
	// AllowedLateness; a late event in that time updates the window, and the
	// next Advance emits a correction.
	LateCorrect
)

// Top asks for a ranked report across keys per window. The report ranks
// the window as it closed; corrections do not re-rank it.
type Top struct {
	N  int
	By string // a measure name
}

// Config is an aggregator's rule-level configuration.
type Config struct {
	Window   Spec
	Measures []Measure
	Top      *Top
	// Evidence is the number of events a result keeps: 0 means
	// DefaultEvidence, negative means none.
	Evidence int
	// Hold, when set, is what the windows keep of an event as evidence:
	// the event, or a smaller copy (see event.Event.Hold) that whoever
	// reads a Result's Evidence thaws. It is called once per event Add
	// takes, and for every evidence event a snapshot restores.
	Hold func(*event.Event) *event.Event
	Late LateMode
	// AllowedLateness is how long after its end an emitted window can still
	// be corrected in LateCorrect mode.
	AllowedLateness time.Duration
	// Bounds; 0 means unbounded. Events beyond them are dropped and counted.
	MaxKeys          int
	MaxEventsPerKey  int // events in one key's sliding window
	MaxWindowsPerKey int // panes or sessions of one key
	// Keep, when set, says whether Advance emits a window's result: one
	// it would not is dropped before the results are put in order, as a
	// rule's having fails for most windows. Not with Top, whose report
	// ranks every result.
	Keep func(*Result) bool
	// MaxDistinct bounds the values an exact count_distinct keeps per key
	// and pane (a tumbling window, a slide of a hopping window), session,
	// or sliding or length window. A new value beyond it is not counted
	// (the event still is, in its other measures) and is counted in
	// Stats.DroppedDistinct; the measure then reads MaxDistinct, a lower
	// bound. 0 means unbounded.
	MaxDistinct int
}

// Aggregator holds one rule's windows for every key. It is not safe for
// concurrent use: the engine runs one per rule and partition.
type Aggregator struct {
	cfg  Config
	plan *plan
	kind Kind
	top  int // measure index of Top.By

	size, slide, pane, gap, expire, length, lateness int64

	wm    int64
	keys  map[string]keyState
	tq    timerq.Queue[string]
	stats Stats
	// bytes is the estimated memory of every key's state (memory.go).
	bytes int64

	cur   Current
	out   []*Result
	later []string
	// touched and touchedEv are Touch's scratch.
	touched   []keyState
	touchedEv evidence
}

// keyState is one key's windows, for whichever kind the aggregator has.
type keyState interface {
	timer() *timing
	// kept is what every key's state keeps beside its windows.
	kept() *memo
	// held is the memory the key was last accounted at; mem is its memory
	// now, beside its share of the map.
	held() *int64
	mem(a *Aggregator) int64
	// close emits (through a.collect) what is due at watermark wm, and
	// returns the next time it needs to be called, or ok=false when the
	// key holds nothing any more.
	close(a *Aggregator, key string, wm int64) (next int64, ok bool)
}

// MinTime is the watermark before any Advance: nothing is late yet.
const MinTime = int64(-1 << 63)

// New validates cfg and returns an empty aggregator.
func New(cfg Config) (*Aggregator, error) {
	if err := cfg.Window.Validate(); err != nil {
		return nil, err
	}
	ev := cfg.Evidence
	if ev == 0 {
		ev = DefaultEvidence
	}
	p, err := newPlan(cfg.Measures, ev, cfg.Window.Kind.closes())
	if err != nil {
		return nil, err
	}
	a := &Aggregator{
		cfg: cfg, plan: p, kind: cfg.Window.Kind, top: -1,
		size: int64(cfg.Window.Size), slide: int64(cfg.Window.Slide), gap: int64(cfg.Window.Gap),
		expire: int64(cfg.Window.Expire), length: int64(cfg.Window.Length),
		wm: MinTime, keys: map[string]keyState{},
	}
	// What the keys' timers start comes out sorted (Advance) or is
	// sorted first (Shed): their order among one deadline's matters to
	// nothing.
	a.tq.TiesInAnyOrder()
	switch a.kind {
	case Tumbling:
		a.slide, a.pane = a.size, a.size
	case Hopping:
		a.pane = int64(gcd(cfg.Window.Size, cfg.Window.Slide))
	}
	switch {
	case cfg.Late > LateCorrect:
		return nil, fmt.Errorf("aggregate: unknown late mode %d", cfg.Late)
	case cfg.AllowedLateness < 0:
		return nil, fmt.Errorf("aggregate: allowed lateness must not be negative, got %v", cfg.AllowedLateness)
	case cfg.Late == LateCorrect && !a.kind.closes():
		return nil, fmt.Errorf("aggregate: late: correct needs a window that closes (tumbling, hopping or session); %s windows are evaluated at each event", a.kind)
	case cfg.MaxKeys < 0 || cfg.MaxEventsPerKey < 0 || cfg.MaxWindowsPerKey < 0 || cfg.MaxDistinct < 0:
		return nil, fmt.Errorf("aggregate: limits must not be negative")
	}
	p.maxDistinct = cfg.MaxDistinct
	if cfg.Late == LateCorrect {
		a.lateness = int64(cfg.AllowedLateness)
	}
	if t := cfg.Top; t != nil {
		if a.kind != Tumbling && a.kind != Hopping {
			return nil, fmt.Errorf("aggregate: top needs windows shared by all keys (tumbling or hopping), not %s", a.kind)
		}
		if t.N <= 0 {
			return nil, fmt.Errorf("aggregate: top: n must be positive, got %d", t.N)
		}
		if a.top = p.index(t.By); a.top < 0 {
			return nil, fmt.Errorf("aggregate: top: by %q is not a measure", t.By)
		}
	}
	a.cur.a = a
	return a, nil
}

// Measures returns the measures in the order of Result.Values, with
// defaults filled in.
func (a *Aggregator) Measures() []Measure { return slices.Clone(a.plan.measures) }

// Stats returns the counters.
func (a *Aggregator) Stats() Stats {
	s := a.stats
	s.Keys = len(a.keys)
	s.Bytes = a.bytes
	return s
}

// Watermark is the latest watermark given to Advance, or MinTime.
func (a *Aggregator) Watermark() int64 { return a.wm }

// Add feeds one event of key at event time t with its measure arguments (one
// per measure, in the order of Config.Measures; count's is ignored). ev is
// kept as evidence and may be nil. The engine passes every event, those
// behind the watermark included: Add judges lateness per window (see the
// package doc), counts what it cannot take in Stats.Late and reports it
// Late. Tumbling, hopping and session windows take a key's events in any
// order; sliding and length windows need them in event-time order.
//
// For sliding and length windows, an applied event returns the key's window
// at this event; the *Current is valid until the next call on a. Otherwise
// the *Current is nil.
//
// Add keeps nothing of key or of args' strings, which may be views of an
// event's line that its decoder reuses: a key new to a, and a value a
// window keeps, are copied. It keeps ev only as Config.Hold makes it.
func (a *Aggregator) Add(key string, t int64, args []Arg, ev *event.Event) (*Current, Status) {
	if len(args) != len(a.plan.measures) {
		panic(fmt.Sprintf("window: Add got %d arguments for %d measures", len(args), len(a.plan.measures)))
	}
	if ev != nil && a.Holds() {
		ev = a.cfg.Hold(ev)
	}
	switch a.kind {
	case Sliding, Length:
		return a.addSliding(key, t, args, ev)
	case Session:
		return nil, a.addSession(key, t, args, ev)
	}
	return nil, a.addPanes(key, t, args, ev)
}

// Holds reports whether Add keeps a held copy (Config.Hold) of every
// event it is given, as evidence.
func (a *Aggregator) Holds() bool { return a.cfg.Hold != nil && a.plan.evidence > 0 }

// newKey checks the key limit before a key's first state is created.
func (a *Aggregator) newKey() bool {
	if a.cfg.MaxKeys > 0 && len(a.keys) >= a.cfg.MaxKeys {
		a.stats.DroppedKeys++
		return false
	}
	return true
}

// insert adds ks as the state of key, a copy of which it keeps and
// returns.
func (a *Aggregator) insert(key string, ks keyState) string {
	key = strings.Clone(key)
	ks.kept().key = key
	a.keys[key] = ks
	return key
}

// Advance moves event time to watermark: windows ending at or before it
// close, and their results go to emit in order of window end, window start
// and key; after the results of each tumbling or hopping window comes its
// top-N report, if the rule has one (report may be nil otherwise).
// Corrections made by late events since the previous Advance come out too.
// A watermark behind the previous one is taken as the previous one.
func (a *Aggregator) Advance(watermark int64, emit func(*Result), report func(*Report)) {
	if watermark > a.wm {
		a.wm = watermark
	}
	wm := a.wm
	a.out = a.out[:0]
	for a.tq.Due(wm) {
		tm := a.tq.Pop()
		ks, ok := a.keys[tm.Key]
		if !ok {
			continue
		}
		st := ks.timer()
		if !st.set || st.at != tm.At {
			continue // superseded by an earlier deadline
		}
		st.set = false
		next, ok := ks.close(a, tm.Key, wm)
		if !ok {
			a.forget(tm.Key, ks)
			continue
		}
		a.account(tm.Key, ks)
		if next > wm {
			a.schedule(tm.Key, st, next)
		} else {
			// Only a watermark at the end of time leaves work due; it waits
			// for the next Advance rather than looping here.
			a.later = append(a.later, tm.Key)
		}
	}
	for _, key := range a.later {
		a.schedule(key, a.keys[key].timer(), wm)
	}
	clear(a.later)
	a.later = a.later[:0]
	slices.SortFunc(a.out, CompareResults)
	for i := 0; i < len(a.out); {
		j := i + 1
		for j < len(a.out) && a.out[j].End == a.out[i].End && a.out[j].Start == a.out[i].Start {
			j++
		}
		for _, r := range a.out[i:j] {
			emit(r)
		}
		if a.top >= 0 && report != nil {
			if rep := a.Rank(a.out[i:j]); rep != nil {
				report(rep)
			}
		}
		i = j
	}
	clear(a.out)
}

// CompareResults orders results as Advance emits them: by window end,
// window start, key and revision.
func CompareResults(x, y *Result) int {
	return cmp.Or(cmp.Compare(x.End, y.End), cmp.Compare(x.Start, y.Start),
		cmp.Compare(x.Key, y.Key), cmp.Compare(x.Revision, y.Revision))
}

func (a *Aggregator) collect(r *Result) {
	if r.Revision > 0 {
		a.stats.Corrections++
	}
	if a.cfg.Keep != nil && a.cfg.Top == nil && !a.cfg.Keep(r) {
		return
	}
	a.out = append(a.out, r)
}
