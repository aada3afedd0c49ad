package facts

import (
	"context"
	"maps"
	"strings"
	"sync"
)

// Memory keeps facts in process memory: for runs without Redis and for
// rule tests, where it makes facts deterministic (expiry is event time
// only). Expired facts are swept as event time, taken from the writes,
// passes them, so memory follows the live facts, not every fact ever
// remembered.
type Memory struct {
	mu       sync.Mutex
	sets     map[entry]int64 // member → expiry
	hashes   map[entry]value
	contexts map[string]map[string]map[string]string
	// latest is the newest write time; sweepAt the write count at which
	// the next sweep runs.
	latest  int64
	sweepAt int
	stats   Stats
}

type entry struct{ name, key, member string }

type value struct {
	v          string
	at, expiry int64
}

// NewMemory returns an empty store.
func NewMemory() *Memory {
	return &Memory{sets: map[entry]int64{}, hashes: map[entry]value{}, contexts: map[string]map[string]map[string]string{}, sweepAt: 1024}
}

// SetContext stores the context hash name of id, as another system would
// in Redis; nil fields remove it.
func (m *Memory) SetContext(name, id string, fields map[string]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if fields == nil {
		delete(m.contexts[name], id)
		return
	}
	if m.contexts[name] == nil {
		m.contexts[name] = map[string]map[string]string{}
	}
	m.contexts[name][id] = maps.Clone(fields)
}

// Seen implements Store.
func (m *Memory) Seen(name, key, member string, at int64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats.Lookups++
	exp, ok := m.sets[entry{name, key, member}]
	return ok && at < exp, nil
}

// Fact implements Store.
func (m *Memory) Fact(name, key string, at int64) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats.Lookups++
	v, ok := m.hashes[entry{name: name, key: key}]
	if !ok || at >= v.expiry {
		return "", false, nil
	}
	return v.v, true, nil
}

// Context implements Store.
func (m *Memory) Context(name, id string) (map[string]string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats.Lookups++
	f, ok := m.contexts[name][id]
	return f, ok, nil
}

// Remember implements Store. A set member keeps the later of its
// expiries; a hash value is replaced by a write of a later (or the same)
// event time, so the newest fact wins whatever order writes come in.
func (m *Memory) Remember(w Write) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats.Writes++
	m.stats.Written++
	exp := w.Expiry()
	// Keys and values are most often fields of an event, in its line: the
	// store keeps copies of its own, so that a fact does not keep a whole
	// line alive for as long as it lives.
	switch w.Kind {
	case Set:
		e := entry{w.Name, w.Key, w.Value}
		if old, ok := m.sets[e]; !ok || old < exp {
			m.sets[entry{strings.Clone(w.Name), strings.Clone(w.Key), strings.Clone(w.Value)}] = exp
		}
	case Hash:
		e := entry{name: w.Name, key: w.Key}
		if old, ok := m.hashes[e]; !ok || old.at <= w.At {
			m.hashes[entry{name: strings.Clone(w.Name), key: strings.Clone(w.Key)}] = value{strings.Clone(w.Value), w.At, exp}
		}
	}
	m.latest = max(m.latest, w.At)
	if n := len(m.sets) + len(m.hashes); n >= m.sweepAt {
		m.sweep()
	}
}

// sweep drops what lapsed before the newest write, and sets the next sweep
// for when the store has doubled, so sweeping costs O(1) per write.
func (m *Memory) sweep() {
	for e, exp := range m.sets {
		if exp <= m.latest {
			delete(m.sets, e)
		}
	}
	for e, v := range m.hashes {
		if v.expiry <= m.latest {
			delete(m.hashes, e)
		}
	}
	m.sweepAt = max(1024, 2*(len(m.sets)+len(m.hashes)))
}

// Len returns the number of facts held, expired or not yet swept.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sets) + len(m.hashes)
}

// Flush implements Store; there is nothing to write.
func (m *Memory) Flush(context.Context) error { return nil }

// Stats implements Store.
func (m *Memory) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.stats
	s.CacheEntries = int64(len(m.sets) + len(m.hashes))
	return s
}

// Close implements Store.
func (m *Memory) Close() error { return nil }
