package nfa

import (
	"fmt"
	"unsafe"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/wire"
)

// Default limits of a Matcher.
const (
	DefaultMaxPartialsPerKey = 1024
	DefaultMaxPartials       = 10_000_000
)

// Overflow is what a matcher sheds when a limit is reached.
type Overflow uint8

// The overflow policies.
const (
	// DropOldest sheds the partial matches that started first.
	DropOldest Overflow = iota
	// DropNewest sheds the partial matches just created.
	DropNewest
)

func (o Overflow) String() string {
	if o == DropNewest {
		return "drop_newest"
	}
	return "drop_oldest"
}

// Options configure a Matcher.
type Options struct {
	// Store keeps per-key state; nil means a new MemoryStore.
	Store Store
	// MaxPartialsPerKey bounds the partial matches of one key; 0 means
	// DefaultMaxPartialsPerKey.
	MaxPartialsPerKey int
	// MaxPartials bounds the partial matches of all keys; 0 means
	// DefaultMaxPartials. With DropOldest the matcher sheds from the key
	// whose window closes first; when no key has a window it sheds from the
	// key being processed.
	MaxPartials int
	// Overflow says what is shed at a limit. Every drop is counted in Stats.
	Overflow Overflow
	// Observer, when set, receives a Note for every change.
	Observer Observer
	// Hold, when set, is what a partial match keeps of an event a step
	// takes: the event, or a smaller copy (see event.Event.Hold), which
	// the matcher thaws for the pattern's conditions, in the matches it
	// emits and in Describe. It is called once per event that some step
	// takes, so every partial match holds the same copy.
	Hold func(*event.Event) *event.Event
	// Reads, when set, is what the pattern's conditions read of the events
	// each step took, by step: the matcher thaws no more of a held event
	// for them (event.Event.ThawIn). A nil entry thaws what the holder
	// reads; an empty projection leaves the step's events held, to be
	// read, if at all, from their lines.
	Reads []*event.Projection
	// OnDue, when set, is called by Advance over a MemoryStore before it
	// expires the keys due at one deadline, which it does deadline by
	// deadline and, at one deadline, key by key. A caller that splits keys
	// among several matchers merges their matches into one matcher's
	// order with it.
	OnDue func(at int64)
}

// Matcher runs one NFA for many keys. It is not safe for concurrent use.
type Matcher struct {
	nfa   *NFA
	store Store
	// mem is store when it is the in-process one, whose state the matcher
	// changes in place: it only needs telling when a deadline moves.
	mem      *MemoryStore
	maxKey   int
	maxTotal int
	overflow Overflow
	obs      Observer
	fp       uint32

	cur   *cursor
	memo  []int8
	umemo []int8
	// pmemo is the verdicts of the steps' Pre on the current event.
	pmemo []int8
	// decided is what ProcessDecided was told of the current event.
	decided Decided
	// touchHashes and touchStates are Touch's scratch.
	touchHashes []uint64
	touchStates []*KeyState
	ev          *event.Event
	stack       []int32
	stack2      []int32
	edges       []edge
	out         []partial
	fins        []completed
	late        []completed
	due         []string
	// dueStates copies a MemoryStore's due batch, which the store reuses.
	dueStates []*KeyState
	seen      map[*node]struct{}
	tmp       KeyState
	nextID    uint32

	// parking is set when the NFA has parkable states (see park.go), and
	// keys park from parkAt partial matches on; moving, merged and firsts
	// are its scratch.
	parking bool
	parkAt  int
	// forced is the step whose where is taken as false while the keyed
	// groups of a state are decided (-1: none); keyBuf is the scratch
	// of keys; keyBytes is what the keyed groups of all keys cost.
	forced   int16
	keyBuf   []byte
	keyBytes int64
	// fed is the latest event fed so far, in feed order.
	fed feedPoint
	// keyOf, during a step, is the key of each partial match taken out
	// of a keyed group, by its node: one that goes back unmoved (same
	// node, same id) has the same key, which need not be read from its
	// events again.
	keyOf map[*node]knownKey
	// keyInPlace, during a step, says its key is the caller's buffer,
	// which step copies before anything keeps it (see ProcessBytes).
	keyInPlace bool
	// settling is settle's list of a key's completed matches while the
	// key holds none back (see settle).
	settling []completed
	// emptied are the keyed groups takeKeyed emptied, and sweep says a
	// take may have emptied any, for unpark to drop (dropEmptyKeyed).
	emptied []int32
	sweep   bool
	moving  []parked
	merged  []partial
	firsts  []*event.Event

	// Freed nodes and key states are reused, which spares the allocator
	// and the collector most of the churn of short-lived partial matches.
	spareNodes []*node
	spareKeys  []*KeyState

	stats Stats
	// evBytes is the memory of the events the state keeps. Each event
	// taken in a step is charged once, to the newest node that took it
	// (charged, evTaken, evClass): partial matches are processed oldest
	// first, and the newest usually lives longest. When that node goes the
	// event stops counting, even if older nodes still hold it: an
	// estimate.
	evBytes int64
	evTaken bool
	evClass uint8
	charged *node
	// hold is Options.Hold; held is what the nodes keep of the current
	// event once a step took it.
	hold func(*event.Event) *event.Event
	held *event.Event
	// live and liveHeld, while a step settles, are its event and what
	// the nodes keep of it: a match ending on the event takes the event
	// itself as its last evidence rather than decoding the held copy's
	// line again (a third of the thawing in a three-step sequence) —
	// unless the event is in its decoder's slab, whose memory its
	// consumer reuses once done with it: its alert would need a copy,
	// which costs more than the thaw (1–5% of the sequence scenario).
	live, liveHeld *event.Event
	// onDue is Options.OnDue.
	onDue func(at int64)
	// now is the latest event time seen, for notes made outside Process.
	now int64
	// touchEvs is touchParts' scratch list.
	touchEvs []*event.Event
	// touched keeps what emitMatch reads ahead, so that the reads are
	// not compiled away.
	touched uintptr
}

type edge struct {
	act      action
	from, to int32
}

// Stats are a matcher's counters and memory in use.
type Stats struct {
	// Keys, Partials, Held and Nodes are live: keys with state, partial
	// matches, completed matches held back by the after-match strategy, and
	// shared-buffer nodes.
	Keys, Partials, Held, Nodes int
	// Parked counts the partial matches among Partials that are parked:
	// waiting where the events do not tell them apart (see Step.ViewFree).
	Parked int
	// Bytes estimates the memory the matcher's state holds: its structures
	// and the events its partial and held matches keep (each event once per
	// key and step that took it; see wire.MemSize). It is kept up to date
	// as the state changes, and is what Shed compares with its target.
	Bytes int64
	// Matches and TimedOut count emitted matches; Expired counts partial
	// matches dropped when their window closed.
	Matches, TimedOut, Expired uint64
	// Partial matches that ended without a match, by cause: a not step saw
	// its event, no transition accepted an event (strict contiguity, a
	// stopped loop), the after-match strategy pruned them, or the rule's
	// until discarded them.
	NotStep, NoTransition, Pruned, Until uint64
	// DroppedPerKey and DroppedTotal count partial matches shed at the
	// limits of Options; Shed counts those dropped by Shed for the memory
	// budget, and ShedBytes the bytes that freed.
	DroppedPerKey, DroppedTotal, Shed, ShedBytes uint64
}

// NewMatcher returns a matcher of n.
func NewMatcher(n *NFA, o Options) *Matcher {
	m := &Matcher{
		nfa:      n,
		store:    o.Store,
		maxKey:   o.MaxPartialsPerKey,
		maxTotal: o.MaxPartials,
		overflow: o.Overflow,
		obs:      o.Observer,
		hold:     o.Hold,
		onDue:    o.OnDue,
		fp:       uint32(n.fingerprint),
		cur:      newCursor(n, o.Reads),
		memo:     make([]int8, len(n.steps)),
		umemo:    make([]int8, len(n.steps)),
		pmemo:    make([]int8, len(n.steps)),
		parking:  n.canPark,
		parkAt:   parkMin,
		forced:   -1,
	}
	if m.store == nil {
		m.store = NewMemoryStore()
	}
	m.mem, _ = m.store.(*MemoryStore)
	if m.mem == nil {
		// Another store gets every partial match back in the working
		// list after each event (see save), so parking would only cost:
		// a keyed state would read every partial match's key again.
		m.parking = false
	}
	if m.maxKey <= 0 {
		m.maxKey = DefaultMaxPartialsPerKey
	}
	if m.maxTotal <= 0 {
		m.maxTotal = DefaultMaxPartials
	}
	return m
}

// NFA returns the automaton the matcher runs.
func (m *Matcher) NFA() *NFA { return m.nfa }

// Stats returns the counters and an estimate of the memory in use.
func (m *Matcher) Stats() Stats {
	s := m.stats
	s.Bytes = m.evBytes + m.keyBytes + int64(s.Keys)*int64(unsafe.Sizeof(KeyState{})+keyOverhead) +
		int64(s.Partials)*int64(unsafe.Sizeof(partial{})) +
		int64(s.Parked)*int64(unsafe.Sizeof(parked{})-unsafe.Sizeof(partial{})) +
		int64(s.Held)*int64(unsafe.Sizeof(completed{})) +
		int64(s.Nodes)*int64(unsafe.Sizeof(node{}))
	return s
}

// spares bounds each free list, so the memory kept for reuse stays small.
const spares = 4096

// keyOverhead estimates what a MemoryStore spends per key beside the
// KeyState: its index slots at typical load (keyIndex), its handle and
// its heap entry.
const keyOverhead = 64

// Process feeds one event of key. Events of a key must come in event-time
// order. Matches completed by the event, and partial matches whose window
// closed at or before its time, are passed to emit before Process returns;
// emit must not call back into the matcher. To emit every key's expiries in
// time order, call Advance with the event's time first.
func (m *Matcher) Process(key string, ev *event.Event, emit func(Match)) error {
	ks, err := m.load(key)
	if err != nil {
		return err
	}
	return m.process(key, ks, ev, emit)
}

// process is Process with the key's state loaded (nil: none).
func (m *Matcher) process(key string, ks *KeyState, ev *event.Event, emit func(Match)) error {
	m.now = max(m.now, ev.Time)
	if m.fed.reaches(ev) {
		// A late event (late: process), or one tied with the last.
		// Whatever it starts comes after partial matches that did not
		// start before it: the key's partial matches may no longer be in
		// strict start order, which parking needs (see park), and the
		// parked ones go back among them first.
		if ks != nil {
			m.unparkAll(ks)
		}
	} else {
		m.fed = feedPoint{set: true, time: ev.Time, stream: ev.Stream, seq: ev.Seq}
	}
	had := ks != nil
	old := int64(noDeadline)
	if ks != nil {
		old = ks.deadline()
		if old <= ev.Time {
			m.expire(ks, ev.Time, ev, emit)
		}
	}
	if m.nfa.until != nil && m.nfa.until(ev) {
		if ks != nil {
			m.untilDiscard(ks, ev, emit)
		}
		return m.save(key, ks, had)
	}
	ks = m.step(key, ks, ev, emit)
	if ks != nil {
		key = ks.key // not the caller's buffer (see ProcessBytes)
	}
	if ks != nil && had && m.mem != nil && !ks.empty() {
		if ks.deadline() == old {
			// The state changed in place and its timer did not move.
			return m.overLimit(key, ev, emit)
		}
	}
	if err := m.save(key, ks, had); err != nil {
		return err
	}
	return m.overLimit(key, ev, emit)
}

// ProcessBytes is Process for a key held in a reused buffer: a key the
// memory store already holds is passed as the state's own string, so only
// a new key costs an allocation for its name. The state found is the one
// processed: with 100,000 keys a second lookup was 2% of the engine's
// time in the sequence scenario.
func (m *Matcher) ProcessBytes(key []byte, ev *event.Event, emit func(Match)) error {
	if m.mem == nil {
		return m.Process(string(key), ev, emit)
	}
	ks := m.mem.keys.getBytes(key)
	if ks == nil {
		if m.obs != nil {
			return m.process(string(key), nil, ev, emit)
		}
		// Many events of a key with no state start nothing that lasts
		// (half of them in the sequence scenario): the key is read in
		// place, and step copies it only for what keeps it, a new state
		// or a match.
		m.keyInPlace = true
		err := m.process(unsafe.String(unsafe.SliceData(key), len(key)), nil, ev, emit)
		m.keyInPlace = false
		return err
	}
	if err := m.check(ks.key, ks); err != nil {
		return err
	}
	return m.process(ks.key, ks, ev, emit)
}

// Advance moves event time to watermark: every timer due at or before it
// fires, emitting absence matches, held matches that became free, and (with
// EmitTimeouts) expired partial matches, key by key in deadline order.
func (m *Matcher) Advance(watermark int64, emit func(Match)) error {
	m.now = max(m.now, watermark)
	if m.mem != nil {
		return m.advanceMemory(watermark, emit)
	}
	for {
		keys, err := m.store.Due(watermark, m.due[:0])
		m.due = keys[:0]
		if err != nil {
			return fmt.Errorf("nfa: find due timers: %w", err)
		}
		if len(keys) == 0 {
			return nil
		}
		for _, key := range keys {
			ks, err := m.load(key)
			if err != nil {
				return err
			}
			if ks == nil {
				continue
			}
			if ks.deadline() > watermark {
				m.untrack(ks)
				continue
			}
			m.expire(ks, watermark, nil, emit)
			if err := m.save(key, ks, true); err != nil {
				return err
			}
		}
		clear(keys)
	}
}

// advanceMemory is Advance over a MemoryStore, which hands out due states
// directly instead of keys to look up again.
func (m *Matcher) advanceMemory(watermark int64, emit func(Match)) error {
	for {
		due := m.mem.due(watermark)
		if len(due) == 0 {
			return nil
		}
		if m.onDue != nil {
			m.onDue(m.mem.dueAt)
		}
		m.dueStates = append(m.dueStates[:0], due...)
		for i, ks := range m.dueStates {
			m.dueStates[i] = nil
			if ks.fp != m.fp {
				if err := m.admit(ks.key, ks); err != nil {
					return err
				}
			}
			if ks.deadline() > watermark {
				// due took the state's entry out of the queue.
				m.mem.index(ks)
				continue
			}
			m.expire(ks, watermark, nil, emit)
			if err := m.save(ks.key, ks, true); err != nil {
				return err
			}
		}
	}
}

func (m *Matcher) load(key string) (*KeyState, error) {
	ks, err := m.store.Get(key)
	if err != nil {
		return nil, fmt.Errorf("nfa: load state of key %q: %w", key, err)
	}
	if ks != nil {
		if err := m.check(key, ks); err != nil {
			return nil, err
		}
	}
	return ks, nil
}

// check admits a loaded state that another NFA built.
func (m *Matcher) check(key string, ks *KeyState) error {
	if ks.fp != m.fp {
		return m.admit(key, ks)
	}
	return nil
}

func (m *Matcher) save(key string, ks *KeyState, had bool) error {
	if ks == nil {
		return nil
	}
	if ks.empty() {
		ks.parts, ks.ext = nil, nil
		if !had {
			return nil
		}
		m.stats.Keys--
		if m.mem != nil {
			m.mem.remove(ks)
			// A MemoryStore drops every reference to the state.
			if len(m.spareKeys) < spares {
				*ks = KeyState{}
				m.spareKeys = append(m.spareKeys, ks)
			}
			return nil
		}
		if err := m.store.Delete(key); err != nil {
			return fmt.Errorf("nfa: delete state of key %q: %w", key, err)
		}
		return nil
	}
	if !had {
		m.stats.Keys++
	}
	if m.mem != nil {
		if had {
			m.mem.index(ks)
		} else {
			m.mem.insert(key, ks)
		}
		return nil
	}
	// A store other than MemoryStore may hand back a copy, so the state
	// it gets holds every partial match in its working list.
	m.unparkAll(ks)
	if err := m.store.Put(key, ks); err != nil {
		return fmt.Errorf("nfa: save state of key %q: %w", key, err)
	}
	m.untrack(ks)
	return nil
}

// untrack takes a state handed to a store other than MemoryStore out of the
// live counts. Such a store may return a fresh copy next time, so the state
// is marked for checking again, and the matcher counts it again when it
// loads it: Stats then describe what the matcher holds, not the store.
func (m *Matcher) untrack(ks *KeyState) {
	m.stats.Keys--
	m.stats.Partials -= ks.Len()
	m.stats.Parked -= ks.parkedLen()
	m.stats.Held -= ks.heldLen()
	nodes, bytes := m.countNodes(ks)
	m.stats.Nodes -= nodes
	m.evBytes -= bytes
	ks.fp = m.fp &^ 1
}

// countNodes counts a key state's nodes and the event memory they carry.
func (m *Matcher) countNodes(ks *KeyState) (int, int64) {
	if m.seen == nil {
		m.seen = map[*node]struct{}{}
	}
	defer clear(m.seen)
	var bytes int64
	walk := func(n *node) {
		for ; n != nil; n = n.prev {
			if _, ok := m.seen[n]; ok {
				return
			}
			m.seen[n] = struct{}{}
			bytes += classBytes(n.charge)
		}
	}
	ks.each(func(p *partial) { walk(p.node) })
	for _, c := range ks.heldMatches() {
		walk(c.p.node)
	}
	return len(m.seen), bytes
}

func (m *Matcher) deadlineOf(p *partial) int64 {
	d := int64(noDeadline)
	if w := m.nfa.within; w > 0 {
		d = addTime(p.first().ev.Time, w)
	}
	if w := m.nfa.states[p.state].window; w > 0 {
		if x := addTime(p.node.ev.Time, w); x < d {
			d = x
		}
	}
	return d
}

func (m *Matcher) newKeyState(key string) *KeyState {
	if k := len(m.spareKeys); k > 0 {
		ks := m.spareKeys[k-1]
		m.spareKeys = m.spareKeys[:k-1]
		*ks = KeyState{key: key, fp: m.fp}
		ks.parts = ks.one[:0]
		return ks
	}
	return newKeyState(key, m.fp)
}

func (m *Matcher) newID() uint32 {
	m.nextID++
	if m.nextID == 0 {
		m.nextID = 1
	}
	return m.nextID
}

func (m *Matcher) newNode(ev *event.Event, step int16, prev *node) *node {
	if prev != nil {
		prev.refs++
	}
	m.stats.Nodes++
	if m.evTaken {
		m.charged.charge = 0
		ev = m.held
	} else {
		m.evTaken = true
		if m.hold != nil {
			ev = m.hold(ev)
		}
		m.held = ev
		m.evClass = sizeClass(wire.MemSize(ev))
		m.evBytes += classBytes(m.evClass)
	}
	var n *node
	if k := len(m.spareNodes); k > 0 {
		n = m.spareNodes[k-1]
		m.spareNodes = m.spareNodes[:k-1]
		*n = node{ev: ev, prev: prev, step: uint16(step), charge: m.evClass}
	} else {
		n = &node{ev: ev, prev: prev, step: uint16(step), charge: m.evClass}
	}
	m.charged = n
	return n
}

// release drops one reference to n and frees the nodes nobody needs.
func (m *Matcher) release(n *node) {
	for n != nil {
		n.refs--
		if n.refs > 0 {
			return
		}
		m.stats.Nodes--
		m.evBytes -= classBytes(n.charge)
		prev := n.prev
		n.prev, n.ev = nil, nil
		if len(m.spareNodes) < spares {
			m.spareNodes = append(m.spareNodes, n)
		}
		n = prev
	}
}

func (m *Matcher) note(n Note) {
	m.obs.Observe(n)
}

func (m *Matcher) eventID(ev *event.Event) string {
	if ev == nil {
		return "(none)"
	}
	if ev.ID != "" {
		return ev.ID
	}
	return fmt.Sprintf("%s#%d", ev.Stream, ev.Seq)
}
