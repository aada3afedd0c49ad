package state

import (
	"context"
	"fmt"
	"github.com/cespare/xxhash/v2"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cep-project/cep/state/redistest"
)

// BenchmarkRedisCheckpoint writes checkpoints of n entries of about the
// size of a sequence key's state, every entry changed each time, and
// reads the last one back. Per-entry figures are reported.
func BenchmarkRedisCheckpoint(b *testing.B) {
	for _, n := range []int{10000, 200000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			srv := redistest.Start(b)
			r := openRedis(b, []string{srv.Addr()})
			rng := rand.New(rand.NewPCG(1, 2))
			val := make([]byte, 170)
			var put, write, commit, read time.Duration
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				tx, err := r.Begin(context.Background(), Meta{ID: uint64(i + 1)})
				if err != nil {
					b.Fatal(err)
				}
				for k := range n {
					for j := range val {
						val[j] = byte(rng.Uint32())
					}
					if err := tx.Put(Entry{Scope: "rule/bench.seq-0", Key: fmt.Sprintf("k/[\"k%d\"]", k), Value: val, TTL: 20 * time.Minute}); err != nil {
						b.Fatal(err)
					}
				}
				put += time.Since(start)
				if err := tx.Commit(context.Background()); err != nil {
					b.Fatal(err)
				}
				c := r.LastCommit()
				write += c.Write
				commit += c.Commit
				if i == 0 {
					b.Logf("%+v", c)
				}
			}
			start := time.Now()
			_, got := latest(b, openRedis(b, []string{srv.Addr()}))
			read = time.Since(start)
			if len(got) != n {
				b.Fatalf("read %d entries", len(got))
			}
			per := func(d time.Duration, k int) float64 { return float64(d.Nanoseconds()) / float64(k) }
			b.ReportMetric(per(put, n*b.N), "put-ns/entry")
			b.ReportMetric(per(write, n*b.N), "write-ns/entry")
			b.ReportMetric(per(commit, n*b.N), "commit-ns/entry")
			b.ReportMetric(per(read, n), "read-ns/entry")
			if info, err := r.client.Info(context.Background(), "commandstats", "cpu").Result(); err == nil {
				b.Log(info)
			}
		})
	}
}

// BenchmarkRedisPut is the cost a checkpoint adds to the engine's pause
// per entry (copying it into the checkpoint's log), and BenchmarkRedisBuild
// the work Commit does per entry beside the engine: hashing the value,
// finding what Redis holds, and adding it to its bucket's page. No server
// is involved.
func BenchmarkRedisPut(b *testing.B) {
	const n = 100000
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("k/[\"k%d\"]", i)
	}
	val := make([]byte, 170)
	for _, changed := range []bool{false, true} {
		b.Run(fmt.Sprintf("changed=%v", changed), func(b *testing.B) {
			r := &Redis{written: map[string]*rec{}, scopes: map[string]*scopeState{}, mirror: true, token: randomToken(), minTTL: time.Hour}
			for _, name := range names {
				r.written["rule/bench.seq-0|"+name] = &rec{hash: hashOf(val)}
			}
			r.scopes["rule/bench.seq-0"] = benchScope(n, len(val))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; {
				tx, _ := r.Begin(context.Background(), Meta{ID: 2})
				if changed {
					val[0]++
				}
				for k := 0; k < n && i < b.N; k, i = k+1, i+1 {
					if err := tx.Put(Entry{Scope: "rule/bench.seq-0", Key: names[k], Value: val, TTL: time.Hour}); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func hashOf(v []byte) uint64 { return xxhash.Sum64(v) }

func BenchmarkRedisBuild(b *testing.B) {
	const n = 100000
	val := make([]byte, 170)
	r := &Redis{written: map[string]*rec{}, scopes: map[string]*scopeState{}, mirror: true, token: randomToken(), minTTL: time.Hour}
	r.scopes["rule/bench.seq-0"] = benchScope(n, len(val))
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("k/[\"k%d\"]", i)
		r.written["rule/bench.seq-0|"+keys[i]] = &rec{hash: hashOf(val)}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		tx, _ := r.Begin(context.Background(), Meta{ID: 2})
		for k := 0; k < n && i < b.N; k, i = k+1, i+1 {
			_ = tx.Put(Entry{Scope: "rule/bench.seq-0", Key: keys[k], Value: val, TTL: time.Hour})
		}
		tx.(*redisTx).build()
	}
}

// benchScope is the mirror of a scope of n entries of size bytes, as a
// checkpoint before left it.
func benchScope(n, size int) *scopeState {
	st := &scopeState{nb: bucketsFor(n, 0), buckets: map[uint32]*bucketState{}}
	per := n / int(st.nb)
	for b := range st.nb {
		st.buckets[b] = &bucketState{ver: "1-x", count: per, size: per * (size + 16), ttl: time.Hour}
	}
	return st
}
