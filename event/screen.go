package event

// Most events of a stream that many rules watch reach none of them: a
// rule indexed by merchant or by process image is a candidate for the few
// events that carry its value. Such an event is still decoded with every
// field any rule of the stream reads, and then dropped. A screen decodes
// each event first with only the fields that tell whether it can reach a
// rule (the router's indexed fields) and asks its consumer; only the events
// it lets through are decoded again with the stream's whole projection.
// An event screened out keeps the fields it was screened with and reads
// the rest from its line, as any projected event does (Get, Path, Full),
// so a reader that wants more of it than its screen decoded gets the same
// answers, only later.
//
// A screen pays while it lets few events through: each one let through
// is decoded twice. The decoder watches what share of a run of events its
// screen lets through and, past screenMaxPass of them, decodes in full
// for a while, longer each time, before it tries the screen again
// (screenOff).

// A Screen is what a Decoder decodes an event with first, and the test
// of whether the event must be decoded with the Decoder's projection.
type Screen struct {
	// Project is the first decode's projection; the time and id fields
	// are added to it, as to the Decoder's.
	Project *Projection
	// Pass reports whether an event decoded with Project may be read for
	// more than Project holds. It is called on the decoding goroutine,
	// and must not keep the event: the memory of one it lets through is
	// reused for the next line (see slabs). A Screen without Pass (nor
	// Project) screens nothing: with Releases, it puts every event in
	// the slabs.
	Pass func(*Event) bool
	// Releases says that the consumer releases every event it is done
	// with (Release) and keeps none past that but a copy (Detach): the
	// events let through are then decoded into the slabs as well. Only
	// a consumer that can tell, for each event, that nothing keeps it
	// may say so (correlate.Engine, of a stream whose every rule keeps
	// only copies); any event it keeps holds on to its whole slab. A
	// held copy of an event (Hold) owns its line.
	Releases bool
}

const (
	// screenRun is how many screened events the decoder counts before it
	// decides whether screening pays.
	screenRun = 256
	// screenMaxPass is the share, in 256ths, of a run that may pass the
	// screen. An event screened out saves 14% of its decode (a payment of
	// 13 fields of which a filter reads 5: 650 ns against 753, go test
	// -bench DecodeScreened), one let through costs 89% more (1,420 ns),
	// so a screen pays while fewer than one in eight pass; one in
	// sixteen keeps a margin.
	screenMaxPass = 16
	// screenOff is how many events are decoded in full after a run let
	// too many through, before the screen is tried again; it doubles
	// with each such run after the first, up to screenMaxOff, so that a
	// stream whose every event reaches a rule (10,000 rules, one per
	// merchant) pays for a run of 256 screened events once in a million.
	screenOff    = 16 * screenRun
	screenMaxOff = 1 << 20
	// screenEarly is where a run most of whose events passed ends: it
	// cannot pay, and every event screened from then on is decoded
	// twice. Windows events, nearly all of which some Sigma rule's
	// screen lets through, were decoded twice for a tenth of one pass
	// over the OTRF recordings: a first run, then another after
	// screenOff, of 256 each per decoder.
	screenEarly = screenRun / 8
)

// screenState is a Decoder's screen and what it has counted.
type screenState struct {
	proj         *projNode
	pass         func(*Event) bool
	seen, passed int
	// off counts down the events to decode in full; backoff is what it
	// starts from after the next run that lets too many through.
	off, backoff int
	// slabs hold the events screened out, and with releases those let
	// through.
	slabs    slabs
	releases bool
}

// SetScreen sets the screen of the lines decoded from now on (see
// Screen); nil decodes every line with the Decoder's projection. The
// Decoder calls s.Pass on its own goroutine, so a Pass that keeps scratch
// space must be one Decoder's own.
func (d *Decoder) SetScreen(s *Screen) {
	d.screen = s
	if d.ready {
		d.init()
	}
}

// Screened counts the lines a Decoder decoded with its screen only, and
// those it decoded twice, first with the screen: for tests and for
// measuring what the screen saves.
func (d *Decoder) Screened() (only, twice uint64) { return d.screenedOnly, d.screenedTwice }

// screening reports whether the next line is screened.
func (s *screenState) screening() bool {
	if s.pass == nil {
		return false
	}
	if s.off > 0 {
		s.off--
		return false
	}
	return true
}

// count notes one screened event and whether it passed.
func (s *screenState) count(passed bool) {
	s.seen++
	if passed {
		s.passed++
	}
	if s.seen == screenRun || s.seen == screenEarly && s.passed > screenEarly/2 {
		if s.passed > screenMaxPass*s.seen/256 {
			s.off = max(s.backoff, screenOff)
			s.backoff = min(2*s.off, screenMaxOff)
		} else {
			s.backoff = 0
		}
		s.seen, s.passed = 0, 0
	}
}
