package siem

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/cep-project/cep/alert"
)

// Router hands each alert to every sink whose routing accepts it. It is the
// sinks' one public handle: Build it from the configuration, Start it, Send
// each alert, Stop it at the end, and read Health for the health endpoint.
type Router struct {
	mmu      sync.Mutex
	marks    map[uint64][]uint64
	nextMark uint64

	sinks []*sink
}

// Build validates every config (all errors at once, with sinks[i] paths)
// and constructs a Router over the sinks they describe. The transports of
// the configured types must be registered: a program imports
// sinks/siem/transport/all, or the transport packages it wants.
func Build(cfgs []Config, opts Options) (*Router, error) {
	if errs := ValidateAll(cfgs); len(errs) > 0 {
		return nil, redacted(errors.Join(errs...))
	}
	sinks := make([]*sink, 0, len(cfgs))
	for _, c := range cfgs {
		s, err := newSink(c, opts)
		if err != nil {
			for _, built := range sinks {
				_ = built.snd.tr.Close()
			}
			return nil, redacted(err)
		}
		sinks = append(sinks, s)
	}
	return &Router{sinks: sinks}, nil
}

// Start starts every sink; on an error the ones already started are
// stopped again.
func (r *Router) Start(ctx context.Context) error {
	for i, s := range r.sinks {
		if err := s.snd.start(ctx); err != nil {
			for _, started := range r.sinks[:i] {
				started.snd.stop(ctx)
			}
			for _, later := range r.sinks[i+1:] {
				_ = later.snd.tr.Close()
			}
			return redacted(err)
		}
	}
	return nil
}

// Send offers a to every sink that accepts it. A sink that fails to take
// it does not keep the others from getting it; the errors are joined.
func (r *Router) Send(ctx context.Context, a *alert.Alert) error {
	var errs []error
	for _, s := range r.sinks {
		if !s.filter.accepts(a) {
			continue
		}
		if err := s.send(ctx, a); err != nil {
			errs = append(errs, fmt.Errorf("sink %s: %w", s.name, err))
		}
	}
	return errors.Join(errs...)
}

// Stop stops every sink, all within ctx: each delivers what it holds,
// retrying on its schedule, and spools what its destination does not take.
// It returns a *StopError when an alert was lost (neither delivered nor
// spooled) or when ctx ended with alerts still in a spool; a program exits
// non-zero on it.
func (r *Router) Stop(ctx context.Context) error {
	reports := make([]StopReport, len(r.sinks))
	var wg sync.WaitGroup
	for i, s := range r.sinks {
		wg.Go(func() { reports[i] = s.snd.stop(ctx) })
	}
	wg.Wait()
	var bad []StopReport
	for _, rep := range reports {
		if rep.failed() {
			bad = append(bad, rep)
		}
	}
	if len(bad) > 0 {
		return &StopError{Reports: bad}
	}
	return nil
}

// StopReport is what one sink left undelivered when it stopped.
type StopReport struct {
	Sink string
	// Lost alerts were neither delivered nor spooled: the sink has no
	// spool dir, or the spool could not be written.
	Lost int
	// Spooled alerts wait in the sink's spool dir for its next start.
	Spooled int
	// TimedOut tells that Stop's context ended while the sink was still
	// delivering.
	TimedOut bool
}

func (r StopReport) failed() bool { return r.Lost > 0 || r.TimedOut && r.Spooled > 0 }

// StopError reports the sinks that lost alerts or ran out of time with
// alerts still in their spool.
type StopError struct {
	Reports []StopReport
}

// Lost is the number of alerts lost in every sink.
func (e *StopError) Lost() int {
	n := 0
	for _, r := range e.Reports {
		n += r.Lost
	}
	return n
}

func (e *StopError) Error() string {
	var parts []string
	for _, r := range e.Reports {
		var what []string
		if r.Lost > 0 {
			what = append(what, fmt.Sprintf("%d alert(s) lost (neither delivered nor spooled)", r.Lost))
		}
		if r.Spooled > 0 {
			what = append(what, fmt.Sprintf("%d alert(s) left in the spool", r.Spooled))
		}
		if r.TimedOut {
			what = append(what, "the stop timeout ran out")
		}
		parts = append(parts, fmt.Sprintf("sink %s: %s", r.Sink, strings.Join(what, ", ")))
	}
	return strings.Join(parts, "; ")
}

// Health reports every sink's state.
func (r *Router) Health() []Health {
	out := make([]Health, len(r.sinks))
	for i, s := range r.sinks {
		out[i] = s.snd.health()
	}
	return out
}

// redactedError shows an error with the credentials of its URLs redacted,
// and unwraps to it.
type redactedError struct{ err error }

func (e redactedError) Error() string { return errText(e.err) }
func (e redactedError) Unwrap() error { return e.err }

func redacted(err error) error {
	if err == nil {
		return nil
	}
	return redactedError{err}
}
