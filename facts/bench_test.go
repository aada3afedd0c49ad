package facts_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/cep-project/cep/facts"
	"github.com/cep-project/cep/state/redistest"
)

func benchStore(b *testing.B) *facts.Redis {
	b.Helper()
	srv := redistest.Start(b)
	return newRedisStoreTB(b, []string{srv.Addr()})
}

// BenchmarkSeenCached: seen answered from the local cache (1,000 users'
// devices, all cached).
func BenchmarkSeenCached(b *testing.B) {
	s := benchStore(b)
	users := make([]string, 1000)
	for i := range users {
		users[i] = "u" + strconv.Itoa(i)
		s.Remember(facts.Write{Kind: facts.Set, Name: "known_devices", Key: users[i], Value: "d1", At: at(0), TTL: time.Hour})
	}
	if err := s.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	for _, u := range users {
		if _, err := s.Seen("known_devices", u, "d1", at(time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if ok, _ := s.Seen("known_devices", users[i%len(users)], "d1", at(time.Minute)); !ok {
			b.Fatal("not seen")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

// BenchmarkFactCached: fact answered from the local cache.
func BenchmarkFactCached(b *testing.B) {
	s := benchStore(b)
	s.Remember(facts.Write{Kind: facts.Hash, Name: "card_last_country", Key: "c1", Value: "FR", At: at(0), TTL: time.Hour})
	if err := s.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, _ := s.Fact("card_last_country", "c1", at(time.Minute)); !ok {
			b.Fatal("no fact")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

// BenchmarkSeenUncached: every lookup misses the cache: one round trip
// each.
func BenchmarkSeenUncached(b *testing.B) {
	s := benchStore(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Seen("known_devices", "u"+strconv.Itoa(i), "d1", at(time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

// BenchmarkPrefetch256: a batch of 256 uncached lookups in one pipelined
// round trip; ns/op is per batch.
func BenchmarkPrefetch256(b *testing.B) {
	s := benchStore(b)
	ls := make([]facts.Lookup, 256)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for j := range ls {
			n++
			ls[j] = facts.Lookup{Kind: facts.Set, Name: "known_devices", Key: "u" + strconv.Itoa(n), Member: "d1"}
		}
		if err := s.Prefetch(ls); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "lookups/s")
}

// BenchmarkRemember: facts remembered and written to Redis in pipelined
// batches.
func BenchmarkRemember(b *testing.B) {
	s := benchStore(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Remember(facts.Write{Kind: facts.Set, Name: "known_devices", Key: "u" + strconv.Itoa(i%100000), Value: "d" + strconv.Itoa(i%7), At: at(time.Duration(i)), TTL: time.Hour})
	}
	if err := s.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}
