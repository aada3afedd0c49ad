package correlate

import (
	"context"
	"testing"
	"time"

	"github.com/cep-project/cep/facts"
	"github.com/cep-project/cep/rules"
)

// countingStore is a memory store that counts flushes and records the
// order writes arrive in.
type countingStore struct {
	*facts.Memory
	flushes int
	writes  []facts.Write
}

func (s *countingStore) Flush(ctx context.Context) error {
	s.flushes++
	return s.Memory.Flush(ctx)
}

func (s *countingStore) Remember(w facts.Write) {
	s.writes = append(s.writes, w)
	s.Memory.Remember(w)
}

// TestEngineFacts: a fact learnt from an event is seen from the next
// event on, not by the rules judging that event (whatever their order);
// a snapshot writes the facts first; a shadow rule remembers nothing.
func TestEngineFacts(t *testing.T) {
	// learn comes first: were its facts applied at once, check would
	// see them for the very event that taught them.
	rs := compileRules(t, `id: learn
title: learn
streams: [auth]
match: "true"
remember: [{set: known, key: event.user, value: event.device, ttl: 1h}]
alert: {emit: false}
`, `id: check
title: check
streams: [auth]
match: '!seen("known", event.user, event.device)'
`, `id: shadow
title: shadow
status: experimental
streams: [auth]
match: "true"
remember: [{set: shadowed, key: event.user, value: event.device, ttl: 1h}]
`)
	store := &countingStore{Memory: facts.NewMemory()}
	rules.UseFacts(rs, store)
	c := &collector{}
	e, err := New(rs, Config{}, c.add)
	if err != nil {
		t.Fatal(err)
	}
	e.Push(ev(t, "auth", "a1", 1, `"user":"u1","device":"d1"`), time.Time{})
	e.Push(ev(t, "auth", "a2", 2, `"user":"u1","device":"d1"`), time.Time{})
	e.Push(ev(t, "auth", "a3", 3, `"user":"u1","device":"d1"`), time.Time{})
	e.Push(ev(t, "auth", "a4", 30, `"user":"u1","device":"d2"`), time.Time{})
	e.Close()
	if got, want := c.ids(), "check@1[a1] shadow@1[a1] shadow@2[a2] shadow@3[a3] check@30[a4] shadow@30[a4]"; got != want {
		t.Errorf("alerts %s, want %s", got, want)
	}
	for _, w := range store.writes {
		if w.Name != "known" {
			t.Errorf("a write of %s: a shadow rule remembered", w.Name)
		}
	}
	if len(store.writes) != 4 {
		t.Errorf("%d writes, want 4", len(store.writes))
	}
	if err := e.Snapshot(func(string, string, []byte) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if store.flushes != 1 {
		t.Errorf("a snapshot flushed the facts %d times, want once", store.flushes)
	}
}
