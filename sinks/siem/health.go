package siem

import (
	"sync"
	"time"
)

// Health is a sink's state for the health endpoint and logs.
type Health struct {
	Name string `json:"name"`
	// State is ok, spooling (the destination is failing; alerts wait in the
	// spool), spool_full, or stopped.
	State        string    `json:"state"`
	Breaker      string    `json:"breaker"`
	SpoolRecords int       `json:"spool_records"`
	SpoolBytes   int64     `json:"spool_bytes"`
	Dropped      int64     `json:"dropped"`
	LastError    string    `json:"last_error,omitempty"`
	LastErrorAt  time.Time `json:"last_error_at,omitzero"`
	Recovery     *Recovery `json:"spool_recovery,omitempty"`
}

// status is what a sender records for Health, read by other goroutines.
type status struct {
	mu      sync.Mutex
	clock   Clock
	sp      spool
	lastErr string
	lastAt  time.Time
	full    bool
	dropped int64
}

func (s *status) setSpool(sp spool) {
	s.mu.Lock()
	s.sp = sp
	s.mu.Unlock()
}

// noteError records the last error, its URLs redacted: health is served
// without authentication.
func (s *status) noteError(err error) {
	text := errText(err)
	s.mu.Lock()
	s.lastErr, s.lastAt = text, s.clock.Now()
	s.mu.Unlock()
}

// setFull records whether the spool is full and returns what it was.
func (s *status) setFull(full bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	was := s.full
	s.full = full
	return was
}

func (s *status) addDropped(n int) {
	s.mu.Lock()
	s.dropped += int64(n)
	s.mu.Unlock()
}

// snapshot returns the health as far as the status knows it: everything
// but the name, the breaker and whether the sink is stopping.
func (s *status) snapshot() Health {
	s.mu.Lock()
	sp := s.sp
	h := Health{State: "ok", LastError: s.lastErr, LastErrorAt: s.lastAt, Dropped: s.dropped}
	full := s.full
	s.mu.Unlock()
	var rec Recovery
	if sp != nil {
		h.SpoolRecords, h.SpoolBytes = sp.stats()
		rec = sp.recovery()
	}
	switch {
	case full:
		h.State = "spool_full"
	case h.SpoolRecords > 0:
		h.State = "spooling"
	}
	if !rec.empty() {
		h.Recovery = &rec
	}
	return h
}
