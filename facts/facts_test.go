package facts_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cep-project/cep/facts"
	"github.com/cep-project/cep/state/redistest"
)

var t0 = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC).UnixNano()

func at(d time.Duration) int64 { return t0 + int64(d) }

// clock is a settable wall clock for the cache's TTL.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

type backend struct {
	name string
	// open returns a store and a function that stores a context hash.
	open func(t *testing.T) (facts.Store, func(name, id string, f map[string]string))
}

func newRedisStoreTB(tb testing.TB, addrs []string) *facts.Redis {
	tb.Helper()
	c := newClock()
	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: addrs})
	tb.Cleanup(func() { _ = client.Close() })
	s, err := facts.NewRedis(facts.RedisOptions{Client: client, Now: c.now})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

func newRedisStore(t *testing.T, addrs []string, c *clock, o facts.RedisOptions) *facts.Redis {
	t.Helper()
	client := redis.NewUniversalClient(&redis.UniversalOptions{Addrs: addrs, IsClusterMode: len(addrs) > 1})
	t.Cleanup(func() { _ = client.Close() })
	o.Client, o.Now = client, c.now
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	s, err := facts.NewRedis(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func backends() []backend {
	return []backend{
		{"memory", func(t *testing.T) (facts.Store, func(string, string, map[string]string)) {
			m := facts.NewMemory()
			return m, m.SetContext
		}},
		{"redis", func(t *testing.T) (facts.Store, func(string, string, map[string]string)) {
			srv := redistest.Start(t)
			s := newRedisStore(t, []string{srv.Addr()}, newClock(), facts.RedisOptions{Contexts: map[string]string{"customer_risk": "risk:{id}"}})
			return s, func(name, id string, f map[string]string) {
				args := []string{"HSET", s.ContextKey(name, id)}
				for k, v := range f {
					args = append(args, k, v)
				}
				if _, err := srv.Do(args...); err != nil {
					t.Fatal(err)
				}
			}
		}},
	}
}

// TestStores holds every store to the same answers: event-time expiry,
// per-key sets, hash replacement, contexts.
func TestStores(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			s, setContext := b.open(t)
			s.Remember(facts.Write{Kind: facts.Set, Name: "known_devices", Key: "u1", Value: "d1", At: at(0), TTL: 90 * 24 * time.Hour})
			s.Remember(facts.Write{Kind: facts.Set, Name: "known_devices", Key: "u1", Value: "d2", At: at(time.Hour), TTL: time.Hour})
			s.Remember(facts.Write{Kind: facts.Hash, Name: "card_last_country", Key: "c1", Value: "FR", At: at(0), TTL: 24 * time.Hour})
			s.Remember(facts.Write{Kind: facts.Hash, Name: "card_last_country", Key: "c1", Value: "BR", At: at(time.Minute), TTL: 24 * time.Hour})
			setContext("customer_risk", "k1", map[string]string{"tier": "high", "score": "0.9"})
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			seen := []struct {
				name, key, member string
				at                int64
				want              bool
			}{
				{"known_devices", "u1", "d1", at(time.Minute), true},
				{"known_devices", "u1", "d1", at(90*24*time.Hour - time.Millisecond), true},
				{"known_devices", "u1", "d1", at(90 * 24 * time.Hour), false},
				{"known_devices", "u1", "d2", at(90 * time.Minute), true},
				{"known_devices", "u1", "d2", at(2 * time.Hour), false},
				{"known_devices", "u2", "d1", at(time.Minute), false},
				{"known_devices", "u1", "d3", at(time.Minute), false},
				{"other", "u1", "d1", at(time.Minute), false},
			}
			for _, c := range seen {
				got, err := s.Seen(c.name, c.key, c.member, c.at)
				if err != nil || got != c.want {
					t.Errorf("Seen(%s, %s, %s, +%v) = %v, %v; want %v", c.name, c.key, c.member, time.Duration(c.at-t0), got, err, c.want)
				}
			}
			facts := []struct {
				key    string
				at     int64
				want   string
				wantOK bool
			}{
				{"c1", at(2 * time.Minute), "BR", true},
				{"c1", at(24*time.Hour + time.Minute), "", false},
				{"c2", at(time.Minute), "", false},
			}
			for _, c := range facts {
				got, ok, err := s.Fact("card_last_country", c.key, c.at)
				if err != nil || got != c.want || ok != c.wantOK {
					t.Errorf("Fact(%s, +%v) = %q, %v, %v; want %q, %v", c.key, time.Duration(c.at-t0), got, ok, err, c.want, c.wantOK)
				}
			}
			ctx, ok, err := s.Context("customer_risk", "k1")
			if err != nil || !ok || ctx["tier"] != "high" || ctx["score"] != "0.9" {
				t.Errorf("Context(customer_risk, k1) = %v, %v, %v", ctx, ok, err)
			}
			if _, ok, err := s.Context("customer_risk", "k2"); ok || err != nil {
				t.Errorf("Context(customer_risk, k2) = %v, %v; want absent", ok, err)
			}
		})
	}
}

// TestRedisShared: a second process (store) sees what the first
// remembered, once its cached answer is older than the cache TTL; facts
// outlive both stores; the key layout is the documented one.
func TestRedisShared(t *testing.T) {
	srv := redistest.Start(t)
	c := newClock()
	a := newRedisStore(t, []string{srv.Addr()}, c, facts.RedisOptions{CacheTTL: time.Second})
	b := newRedisStore(t, []string{srv.Addr()}, c, facts.RedisOptions{CacheTTL: time.Second})
	if ok, _ := b.Seen("known_devices", "u1", "d1", at(time.Minute)); ok {
		t.Fatal("seen before anyone remembered it")
	}
	a.Remember(facts.Write{Kind: facts.Set, Name: "known_devices", Key: "u1", Value: "d1", At: at(0), TTL: time.Hour})
	if ok, _ := a.Seen("known_devices", "u1", "d1", at(time.Minute)); !ok {
		t.Fatal("the writer does not read its own write before it is flushed")
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if ok, _ := b.Seen("known_devices", "u1", "d1", at(time.Minute)); ok {
		t.Fatal("the reader's cached answer should stand until the cache TTL")
	}
	c.advance(time.Second)
	if ok, _ := b.Seen("known_devices", "u1", "d1", at(time.Minute)); !ok {
		t.Fatal("the reader does not see the fact after the cache TTL")
	}
	keys, err := srv.Do("EXISTS", "cep:facts:set:known_devices:{u1}")
	if err != nil || keys != "1" {
		t.Fatalf("EXISTS cep:facts:set:known_devices:{u1} = %q, %v", keys, err)
	}
	ttl, err := srv.Do("PTTL", "cep:facts:set:known_devices:{u1}")
	if err != nil || ttl == "-1" || ttl == "-2" {
		t.Fatalf("the set key has no Redis TTL: %q, %v", ttl, err)
	}
	fresh := newRedisStore(t, []string{srv.Addr()}, newClock(), facts.RedisOptions{})
	if ok, _ := fresh.Seen("known_devices", "u1", "d1", at(time.Minute)); !ok {
		t.Fatal("a new store does not see the fact")
	}
	st := fresh.Stats()
	if st.Lookups != 1 || st.Fetches != 1 || st.RoundTrips != 1 || st.CacheHits != 0 {
		t.Errorf("stats %+v", st)
	}
	if ok, _ := fresh.Seen("known_devices", "u1", "d1", at(time.Minute)); !ok || fresh.Stats().CacheHits != 1 {
		t.Errorf("the second lookup was not a cache hit: %+v", fresh.Stats())
	}
}

// TestRedisPrefetch reads a batch of lookups in one round trip.
func TestRedisPrefetch(t *testing.T) {
	srv := redistest.Start(t)
	s := newRedisStore(t, []string{srv.Addr()}, newClock(), facts.RedisOptions{})
	var ls []facts.Lookup
	for i := range 100 {
		ls = append(ls, facts.Lookup{Kind: facts.Set, Name: "known_devices", Key: "u", Member: string(rune('a' + i%26))})
	}
	ls = append(ls, facts.Lookup{Kind: facts.Hash, Name: "card_last_country", Key: "c1"}, facts.Lookup{Context: true, Name: "risk", Key: "k1"})
	if err := s.Prefetch(ls); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.RoundTrips != 1 {
		t.Fatalf("prefetch took %d round trips", st.RoundTrips)
	}
	for _, l := range ls[:26] {
		if _, err := s.Seen(l.Name, l.Key, l.Member, at(0)); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.RoundTrips != 1 || st.CacheHits != 26 {
		t.Fatalf("lookups after a prefetch went to Redis: %+v", st)
	}
}

// TestRedisOnError: with unknown, a lookup while Redis is down is absent
// and counted; with wait, it waits for Redis to come back.
func TestRedisOnError(t *testing.T) {
	srv := redistest.Start(t)
	c := newClock()
	unknown := newRedisStore(t, []string{srv.Addr()}, c, facts.RedisOptions{OnError: facts.Unknown, Timeout: 300 * time.Millisecond})
	wait := newRedisStore(t, []string{srv.Addr()}, c, facts.RedisOptions{OnError: facts.Wait, Timeout: 300 * time.Millisecond})
	w := newRedisStore(t, []string{srv.Addr()}, c, facts.RedisOptions{})
	w.Remember(facts.Write{Kind: facts.Set, Name: "known_devices", Key: "u1", Value: "d1", At: at(0), TTL: time.Hour})
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	ok, err := unknown.Seen("known_devices", "u1", "d1", at(time.Minute))
	if ok || err != nil {
		t.Fatalf("unknown: Seen = %v, %v; want false, nil", ok, err)
	}
	if st := unknown.Stats(); st.Unknown != 1 || st.Errors == 0 {
		t.Fatalf("unknown: not counted: %+v", st)
	}
	done := make(chan bool)
	go func() {
		ok, _ := wait.Seen("known_devices", "u1", "d1", at(time.Minute))
		done <- ok
	}()
	select {
	case <-done:
		t.Fatal("wait: answered while Redis was down")
	case <-time.After(400 * time.Millisecond):
	}
	srv.StartAgain()
	if ok := <-done; !ok {
		t.Fatal("wait: the answer after Redis came back is wrong")
	}
}

// TestRedisCluster: facts work on a Redis Cluster (each key in the slot
// of its entity).
func TestRedisCluster(t *testing.T) {
	cl := redistest.StartCluster(t, 3)
	s := newRedisStore(t, cl.Addrs(), newClock(), facts.RedisOptions{})
	for i := range 50 {
		s.Remember(facts.Write{Kind: facts.Set, Name: "known_devices", Key: string(rune('a' + i%26)), Value: "d", At: at(0), TTL: time.Hour})
	}
	if err := s.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := newRedisStore(t, cl.Addrs(), newClock(), facts.RedisOptions{})
	for i := range 26 {
		if ok, err := r.Seen("known_devices", string(rune('a'+i)), "d", at(time.Minute)); !ok || err != nil {
			t.Fatalf("Seen(%c) = %v, %v", 'a'+i, ok, err)
		}
	}
}

// TestMemorySweep: expired facts leave memory as event time passes them.
func TestMemorySweep(t *testing.T) {
	m := facts.NewMemory()
	for i := range 5000 {
		m.Remember(facts.Write{Kind: facts.Set, Name: "s", Key: "k", Value: string(rune(i)), At: at(time.Duration(i) * time.Second), TTL: 10 * time.Second})
	}
	if n := m.Len(); n > 2100 {
		t.Errorf("memory holds %d facts; expired ones are not swept", n)
	}
	if ok, _ := m.Seen("s", "k", string(rune(4999)), at(4999*time.Second)); !ok {
		t.Error("the newest fact was swept")
	}
}

// TestNewestHashWins: a hash fact written at an earlier event time does
// not replace a later one, whatever order the writes come in (two
// processes, a backfill beside live traffic).
func TestNewestHashWins(t *testing.T) {
	srv := redistest.Start(t)
	stores := map[string]func() facts.Store{
		"memory": func() facts.Store { return facts.NewMemory() },
		"redis":  func() facts.Store { return newRedisStore(t, []string{srv.Addr()}, newClock(), facts.RedisOptions{}) },
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			s := open()
			s.Remember(facts.Write{Kind: facts.Hash, Name: "last", Key: "c1", Value: "BR", At: at(time.Hour), TTL: 24 * time.Hour})
			s.Remember(facts.Write{Kind: facts.Hash, Name: "last", Key: "c1", Value: "FR", At: at(0), TTL: 24 * time.Hour})
			if v, _, _ := s.Fact("last", "c1", at(2*time.Hour)); v != "BR" {
				t.Errorf("before the flush: %q, want BR", v)
			}
			if err := s.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			if v, _, _ := s.Fact("last", "c1", at(2*time.Hour)); v != "BR" {
				t.Errorf("after the flush: %q, want BR", v)
			}
			if name == "redis" {
				// Another process writes an older fact, then a newer.
				other := open()
				other.Remember(facts.Write{Kind: facts.Hash, Name: "last", Key: "c1", Value: "DE", At: at(30 * time.Minute), TTL: 24 * time.Hour})
				if err := other.Flush(context.Background()); err != nil {
					t.Fatal(err)
				}
				if v, _, _ := open().Fact("last", "c1", at(2*time.Hour)); v != "BR" {
					t.Errorf("an older write from another process replaced the fact: %q", v)
				}
				other.Remember(facts.Write{Kind: facts.Hash, Name: "last", Key: "c1", Value: "IT", At: at(90 * time.Minute), TTL: 24 * time.Hour})
				if err := other.Flush(context.Background()); err != nil {
					t.Fatal(err)
				}
				if v, _, _ := open().Fact("last", "c1", at(2*time.Hour)); v != "IT" {
					t.Errorf("a newer write from another process was refused: %q", v)
				}
			}
		})
	}
}
