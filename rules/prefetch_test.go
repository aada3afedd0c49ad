package rules

import (
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/facts"
	"github.com/cep-project/cep/state/redistest"
)

// TestFactPrefetch: the lookups of a batch of events go to Redis in one
// round trip, and the conditions then find every answer in the cache.
func TestFactPrefetch(t *testing.T) {
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = client.Close() })
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	store, err := facts.NewRedis(facts.RedisOptions{Client: client, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	c, err := NewCompiler(Options{Facts: store})
	if err != nil {
		t.Fatal(err)
	}
	src := `id: t.prefetch
title: prefetch
streams: [payments]
match: >-
  !seen("known_devices", event.user, event.device) ||
  fact("card_last_country", event.card).orValue("") != event.country ||
  context("risk", event.user).hasValue() ||
  seen("known_devices", event.user + "!", event.device)
`
	r, errs := c.CompileFile("r.yaml", []byte(src))
	if r == nil {
		t.Fatal(errs)
	}
	if len(r.prefetch) != 4 {
		t.Fatalf("%d prefetchable calls, want 4", len(r.prefetch))
	}
	pre := FactPrefetch([]*Rule{r})
	if pre == nil {
		t.Fatal("no prefetch for a Redis store")
	}
	var evs []*event.Event
	for i := range 50 {
		d := event.Decoder{Stream: "payments"}
		ev, err := d.Decode(fmt.Appendf(nil, `{"ts":"2026-03-02T09:00:00Z","user":"u%d","device":"d%d","card":"c%d","country":"FR"}`, i, i%3, i))
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	pre(evs)
	if st := store.Stats(); st.RoundTrips != 1 || st.Fetches != 200 {
		t.Fatalf("prefetch: %+v, want 1 round trip for 200 lookups", st)
	}
	for _, ev := range evs {
		r.Match.Test(EventActivation{Ev: ev})
	}
	if st := store.Stats(); st.RoundTrips != 1 || st.CacheHits == 0 {
		t.Fatalf("conditions after the prefetch went to Redis: %+v", st)
	}
	if r.Health.Errors() != 0 {
		t.Fatal(r.Health.LastError())
	}
	// A memory store answers at once: nothing to prefetch.
	m, _ := NewCompiler(Options{})
	rm, _ := m.CompileFile("r.yaml", []byte(src))
	if FactPrefetch([]*Rule{rm}) != nil {
		t.Error("a prefetch for a memory store")
	}
}

// BenchmarkPrefetchedBatch: a batch of 512 events whose seen lookups all
// miss the cache, read ahead in one round trip and then judged; ns/op is
// per batch.
func BenchmarkPrefetchedBatch(b *testing.B) {
	srv := redistest.Start(b)
	client := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	b.Cleanup(func() { _ = client.Close() })
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	store, err := facts.NewRedis(facts.RedisOptions{Client: client, Now: func() time.Time { return now }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = store.Close() })
	c, err := NewCompiler(Options{Facts: store})
	if err != nil {
		b.Fatal(err)
	}
	r, errs := c.CompileFile("r.yaml", []byte("id: t.b\ntitle: b\nmatch: '!seen(\"known_devices\", event.user, event.device)'\n"))
	if r == nil {
		b.Fatal(errs)
	}
	pre := FactPrefetch([]*Rule{r})
	evs := make([]*event.Event, 512)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		for i := range evs {
			n++
			d := event.Decoder{Stream: "payments"}
			evs[i], _ = d.Decode(fmt.Appendf(nil, `{"ts":"2026-03-02T09:00:00Z","user":"u%d","device":"d1"}`, n))
		}
		b.StartTimer()
		pre(evs)
		for _, ev := range evs {
			if !r.Match.Test(EventActivation{Ev: ev}) {
				b.Fatal("an unknown device is known")
			}
		}
	}
	if st := store.Stats(); st.RoundTrips != uint64(b.N) {
		b.Fatalf("%d round trips for %d batches", st.RoundTrips, b.N)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}
