package sinktest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/cep-project/cep/internal/secret"
	"github.com/cep-project/cep/sinks/siem/transport"
)

// MemoryKind is the sink type of Memory, registered for tests.
const MemoryKind = "memory"

func init() {
	transport.Register(transport.Typed(MemoryKind, func(c MemoryConfig, _ transport.Env) (*Memory, error) {
		if c.Dest == nil {
			return nil, errors.New("memory: no destination")
		}
		c.Dest.mu.Lock()
		c.Dest.token = c.Token.Reveal()
		c.Dest.mu.Unlock()
		return c.Dest, nil
	}))
}

// MemoryConfig is the memory block; programs set Dest. Token is a secret
// the destination records as it was resolved, for tests of secrets.
type MemoryConfig struct {
	Dest      *Memory       `yaml:"-"`
	Token     secret.Secret `yaml:"token"`
	TokenFile string        `yaml:"token_file"`
}

// Validate implements transport.Config.
func (c *MemoryConfig) Validate(transport.Settings) []error { return nil }

// Memory is a destination in memory for tests of the sink core: it keeps
// what it was sent and fails while Down is set, or when Fail says so for a
// call (counted from 0).
type Memory struct {
	Down atomic.Bool
	Fail func(call int) bool
	// StartErr, when set, is what Start returns.
	StartErr error

	mu     sync.Mutex
	token  string
	calls  int
	got    []transport.Record
	closed bool
}

// Start implements transport.Transport.
func (m *Memory) Start(context.Context) error { return m.StartErr }

// Send implements transport.Transport.
func (m *Memory) Send(_ context.Context, batch []transport.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	call := m.calls
	m.calls++
	if m.Down.Load() || m.Fail != nil && m.Fail(call) {
		return errors.New("destination down")
	}
	for _, r := range batch {
		r.Body = slices.Clone(r.Body)
		m.got = append(m.got, r)
	}
	return nil
}

// Close implements transport.Transport.
func (m *Memory) Close() error {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	return nil
}

// IDs returns the ids delivered, in order.
func (m *Memory) IDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, len(m.got))
	for i, r := range m.got {
		out[i] = r.ID
	}
	return out
}

// Records returns the records delivered, in order.
func (m *Memory) Records() []transport.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.got)
}

// Token returns the token the sink resolved for this destination.
func (m *Memory) Token() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.token
}

// Calls returns the number of Send calls.
func (m *Memory) Calls() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls
}
