package siem

import (
	"context"
	"errors"
	"fmt"
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
		return nil, errors.Join(errs...)
	}
	sinks := make([]*sink, 0, len(cfgs))
	for _, c := range cfgs {
		s, err := newSink(c, opts)
		if err != nil {
			for _, built := range sinks {
				_ = built.snd.tr.Close()
			}
			return nil, err
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
				_ = started.snd.stop(ctx)
			}
			for _, later := range r.sinks[i+1:] {
				_ = later.snd.tr.Close()
			}
			return err
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

// Stop stops every sink, all within ctx.
func (r *Router) Stop(ctx context.Context) error {
	errs := make(chan error, len(r.sinks))
	for _, s := range r.sinks {
		go func() { errs <- s.snd.stop(ctx) }()
	}
	var all []error
	for range r.sinks {
		if err := <-errs; err != nil {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}

// Health reports every sink's state.
func (r *Router) Health() []Health {
	out := make([]Health, len(r.sinks))
	for i, s := range r.sinks {
		out[i] = s.snd.health()
	}
	return out
}
