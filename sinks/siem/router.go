package siem

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/cep-project/cep/alert"
)

// Router hands each alert to every sink whose routing accepts it.
type Router struct {
	mmu      sync.Mutex
	marks    map[uint64][]uint64
	nextMark uint64

	sinks []*Sink
}

// NewRouter routes to sinks, which it starts and stops with itself.
func NewRouter(sinks ...*Sink) *Router { return &Router{sinks: sinks} }

// Build validates every config (all errors at once, with sinks[i] paths)
// and constructs a Router over the sinks they describe.
func Build(cfgs []Config, opts Options) (*Router, error) {
	if errs := ValidateAll(cfgs); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sinks := make([]*Sink, 0, len(cfgs))
	for _, c := range cfgs {
		s, err := New(c, opts)
		if err != nil {
			for _, built := range sinks {
				_ = built.tr.close()
			}
			return nil, err
		}
		sinks = append(sinks, s)
	}
	return NewRouter(sinks...), nil
}

// Sinks returns the routed sinks.
func (r *Router) Sinks() []*Sink { return r.sinks }

// Start starts every sink; on an error the ones already started are
// stopped again.
func (r *Router) Start(ctx context.Context) error {
	for i, s := range r.sinks {
		if err := s.Start(ctx); err != nil {
			for _, started := range r.sinks[:i] {
				_ = started.Stop(ctx)
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
		if !s.Accepts(a) {
			continue
		}
		if err := s.Send(ctx, a); err != nil {
			errs = append(errs, fmt.Errorf("sink %s: %w", s.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// Stop stops every sink, all within ctx.
func (r *Router) Stop(ctx context.Context) error {
	errs := make(chan error, len(r.sinks))
	for _, s := range r.sinks {
		go func() { errs <- s.Stop(ctx) }()
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
		out[i] = s.Health()
	}
	return out
}
