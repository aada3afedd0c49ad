package source

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"github.com/cep-project/cep/event"
)

// Reading is a source over any reader, such as standard input or the
// events of a rule test. It cannot resume: a restart does not see again
// what it read before, and its batches carry no position.
type Reading struct {
	Spec Spec
	R    io.Reader
	Log  *slog.Logger
	// OnMalformed, when set, also receives every malformed line's error.
	OnMalformed func(error)

	counts Counters
}

// Name implements Source.
func (s *Reading) Name() string { return s.Spec.Name }

// Streams implements Source.
func (s *Reading) Streams() []string { return []string{s.Spec.Stream} }

// Counts implements Source.
func (s *Reading) Counts() *Counters { return &s.counts }

// Run implements Source. Positions are ignored: there is nothing to seek.
func (s *Reading) Run(ctx context.Context, _ Positions, out chan<- Batch) error {
	r := NewReader(s.R, s.Spec, s.Log)
	r.Counts = &s.counts
	r.OnMalformed = s.OnMalformed
	batch := make([]*event.Event, 0, batchEvents)
	bytes := 0
	send := func(end bool, err error) bool {
		select {
		case out <- Batch{Source: s.Spec.Name, Events: batch, End: end, Err: err}:
			batch, bytes = make([]*event.Event, 0, batchEvents), 0
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		ev, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			send(true, err)
			return err
		}
		batch = append(batch, ev)
		bytes += len(ev.Raw)
		// A reader that pauses (a terminal, a pipe) must not sit on a
		// partial batch.
		if len(batch) >= batchEvents || bytes >= batchBytes || !r.Buffered() {
			if !send(false, nil) {
				return nil
			}
		}
	}
}
