package source

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/wire"
)

// Batch is a run of events from one source, with the source's position
// just after the last of them. The runtime records the position only once
// it has pushed every event of the batch, so a checkpoint's positions
// always match what the engine has seen.
type Batch struct {
	Source string
	// Lane tells apart the independent positions of one source (a Kafka
	// partition); "" for a source with one position.
	Lane   string
	Events []*event.Event
	// Pos is where the source resumes after this batch; nil when the
	// source cannot resume (standard input).
	Pos []byte
	// Lanes are the positions of several lanes the batch moves on, for a
	// source that merges its lanes in event-time order (Kafka's
	// partitions): one batch holds events of many of them.
	Lanes Positions
	// End is set on the last batch of a source that has ended.
	End bool
	// Err is why the source ended early, with End.
	Err error
	// Pushed, when set, is called by the runtime once every event of the
	// batch has been pushed to the engine: a source that cannot resume
	// (HTTP ingest) acknowledges its sender only then.
	Pushed func()
}

// Source produces events in batches.
type Source interface {
	// Name identifies the source in positions, logs and metrics.
	Name() string
	// Streams lists the streams the source's events belong to, so the
	// engine can wait for each before its first event.
	Streams() []string
	// Run reads from the positions a checkpoint recorded (nil: from the
	// start) and sends batches to out until the input ends (a last batch
	// with End) or ctx is done. It does not close out.
	Run(ctx context.Context, from Positions, out chan<- Batch) error
	// Counts returns the source's counters, safe to read while it runs.
	Counts() *Counters
}

// Committer is a source that learns when a checkpoint covering its
// positions is durable, so that it can tell its upstream what is
// consumed (a Kafka group's offsets) no sooner: what a crash can make cep
// read again is then never what the upstream already let go of.
// Committed is called from the runtime's loop and must not block.
type Committer interface {
	Committed(Positions)
}

// Positions are a source's resume points by lane.
type Positions map[string][]byte

// EncodePositions writes a source's positions for a checkpoint.
func EncodePositions(p Positions) []byte {
	enc := &wire.Enc{B: []byte{positionsVersion}}
	enc.Uvarint(uint64(len(p)))
	for _, lane := range sortedLanes(p) {
		enc.Str(lane)
		enc.Bytes(p[lane])
	}
	return enc.B
}

// DecodePositions reads what EncodePositions wrote.
func DecodePositions(b []byte) (Positions, error) {
	d := &wire.Dec{B: b}
	if v := d.Byte(); v != positionsVersion {
		return nil, fmt.Errorf("source positions version %d; this cep reads version %d", v, positionsVersion)
	}
	n := d.Count(1)
	p := make(Positions, n)
	for range n {
		lane := d.Str()
		p[lane] = append([]byte(nil), d.Bytes()...)
	}
	if d.Err == nil && len(d.B) != 0 {
		d.Err = errors.New("bytes left over")
	}
	if d.Err != nil {
		return nil, fmt.Errorf("source positions: %w", d.Err)
	}
	return p, nil
}

const positionsVersion = 1

func sortedLanes(p Positions) []string {
	lanes := make([]string, 0, len(p))
	for l := range p {
		lanes = append(lanes, l)
	}
	slices.Sort(lanes)
	return lanes
}
