package server

import (
	"context"
	"sync"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/runtime"
)

// RecentAlerts is how many alerts the admin API keeps per rule.
const RecentAlerts = 50

// Recorder is a runtime.Sink that keeps each rule's last alerts (shadow
// ones included) for the admin API and hands every alert on to the real
// sink. The ring is bounded per rule, and rules that are gone are
// forgotten at the next reload.
type Recorder struct {
	runtime.Sink
	mu    sync.Mutex
	rings map[string]*ring
}

type ring struct {
	buf  []*alert.Alert
	next int
	n    uint64
}

// NewRecorder wraps sink.
func NewRecorder(sink runtime.Sink) *Recorder {
	return &Recorder{Sink: sink, rings: map[string]*ring{}}
}

// Send records a and hands it on.
func (r *Recorder) Send(ctx context.Context, a *alert.Alert) error {
	r.mu.Lock()
	rg := r.rings[a.Rule]
	if rg == nil {
		rg = &ring{buf: make([]*alert.Alert, 0, RecentAlerts)}
		r.rings[a.Rule] = rg
	}
	if len(rg.buf) < RecentAlerts {
		rg.buf = append(rg.buf, a)
	} else {
		rg.buf[rg.next] = a
		rg.next = (rg.next + 1) % RecentAlerts
	}
	rg.n++
	r.mu.Unlock()
	return r.Sink.Send(ctx, a)
}

// Recent returns a rule's last alerts, oldest first, and how many it has
// had since the start.
func (r *Recorder) Recent(rule string) ([]*alert.Alert, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rg := r.rings[rule]
	if rg == nil {
		return []*alert.Alert{}, 0
	}
	out := make([]*alert.Alert, 0, len(rg.buf))
	out = append(out, rg.buf[rg.next:]...)
	out = append(out, rg.buf[:rg.next]...)
	return out, rg.n
}

// Keep forgets the alerts of rules not in ids.
func (r *Recorder) Keep(ids map[string]bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.rings {
		if !ids[id] {
			delete(r.rings, id)
		}
	}
}
