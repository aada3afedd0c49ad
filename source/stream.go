package source

import (
	"context"
	"errors"
	"io"
	"log/slog"
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
	p := startPipeline(ctx, r, s.Spec.Name, s.Spec.Decoders, out)
	defer p.close()
	for {
		b, tooLong, err := r.nextLine()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = nil
			}
			p.flush(ctx, nil, true, err)
			return err
		}
		if p.cutBefore(len(b)) && !p.flush(ctx, nil, false, nil) {
			return nil
		}
		p.add(b, r.line, tooLong)
		// A reader that pauses (a terminal, a pipe) must not sit on a
		// partial batch.
		if p.full() || !r.Buffered() {
			if !p.flush(ctx, nil, false, nil) {
				return nil
			}
		}
	}
}
