package window

import "github.com/cep-project/cep/event"

// Result is one window's measures for one key.
type Result struct {
	Key string
	// Start and End bound the window: [Start, End) for tumbling, hopping and
	// session windows, (Start, End] for sliding windows, and the times of the
	// first and last event, both included, for length windows. End is the
	// alert time.
	Start, End int64
	// Values are the measures, in the order of Config.Measures.
	Values []float64
	// Count is the number of events in the window; Evidence holds the most
	// recent of them (Config.Evidence at most), oldest first.
	Count    int64
	Evidence []*event.Event
	// Revision is 0 for a window's first result and n for its n-th
	// correction.
	Revision int
	// Corrects lists the results this one supersedes, as they were emitted:
	// one for a corrected tumbling or hopping window, one or more for a
	// session that a late event extended or joined to another. The engine
	// derives the `corrects:` alert id from them. Empty on a first result.
	Corrects []*Result

	// evBytes is the memory of Evidence's events, for a result kept for
	// correction.
	evBytes int64
}

// Report is the top-N ranking of one tumbling or hopping window across
// keys: the N results with the largest value of the By measure, ties broken
// by key. Results are the same values the per-key results carry.
type Report struct {
	Start, End int64
	By         string
	Results    []*Result
}

// Status tells what Add did with an event.
type Status uint8

// The outcomes of Add. Every event that is not Applied is also counted in
// Stats, so nothing is lost silently.
const (
	// Applied: the event is in all of its windows.
	Applied Status = iota
	// Late: at least one of the event's windows had already been emitted and
	// will not be corrected (LateCount mode, or past the allowed lateness).
	// The event still counts in its windows that are open. The engine logs it.
	Late
	// Corrected: the event landed in windows already emitted; the next
	// Advance emits their corrections.
	Corrected
	// DroppedKey: the key was new and the aggregator already holds MaxKeys.
	DroppedKey
	// DroppedEvent: the key's sliding window already holds MaxEventsPerKey.
	DroppedEvent
	// DroppedWindow: the key already holds MaxWindowsPerKey panes or sessions.
	DroppedWindow
)

var statusNames = [...]string{"applied", "late", "corrected", "dropped: key limit", "dropped: event limit", "dropped: window limit"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "status(?)"
}

// Stats are the aggregator's counters, for metrics and logs.
type Stats struct {
	// Keys is the number of keys holding state now.
	Keys int
	// Late counts events with a window already emitted that they could not
	// correct; LateCorrected counts late events absorbed into corrections,
	// and Corrections the correction results emitted.
	Late, LateCorrected, Corrections uint64
	// Events dropped by each bound; DroppedDistinct counts count_distinct
	// values left out at MaxDistinct.
	DroppedKeys, DroppedEvents, DroppedWindows, DroppedDistinct uint64
	// Bytes is the estimated memory of the state now (Aggregator.Bytes).
	Bytes int64
	// ShedKeys counts keys dropped by Shed for the memory budget, and
	// ShedBytes the memory that freed.
	ShedKeys, ShedBytes uint64
}
