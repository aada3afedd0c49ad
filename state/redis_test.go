package state

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cep-project/cep/internal/seal"
	"github.com/cep-project/cep/state/redistest"
)

func openRedis(t testing.TB, addrs []string, mod ...func(*RedisOptions)) *Redis {
	t.Helper()
	o := RedisOptions{Addrs: addrs, Prefix: "t", Group: "g"}
	for _, m := range mod {
		m(&o)
	}
	r, err := NewRedis(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

func commit(t testing.TB, s Store, id uint64, entries ...Entry) error {
	t.Helper()
	ctx := context.Background()
	tx, err := s.Begin(ctx, Meta{ID: id, Created: time.Unix(1700000000, int64(id)), Writer: "test",
		Positions: []Position{{Source: "payments", Data: []byte(fmt.Sprintf("offset=%d", id))}}})
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := tx.Put(e); err != nil {
			t.Fatal(err)
		}
	}
	return tx.Commit(ctx)
}

func mustCommit(t testing.TB, s Store, id uint64, entries ...Entry) {
	t.Helper()
	if err := commit(t, s, id, entries...); err != nil {
		t.Fatal(err)
	}
}

func latest(t testing.TB, s Store) (Meta, []Entry) {
	t.Helper()
	snap, err := s.Latest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if snap == nil {
		t.Fatal("no checkpoint")
	}
	defer snap.Close()
	var out []Entry
	if err := snap.Entries(func(e Entry) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return snap.Meta(), out
}

// keysOf lists the keys under the store's prefix with their TTLs.
func keysOf(t testing.TB, r *Redis) map[string]time.Duration {
	t.Helper()
	ctx := context.Background()
	out := map[string]time.Duration{}
	scan := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, "t:*", 1000).Iterator()
		for iter.Next(ctx) {
			ttl, err := c.PTTL(ctx, iter.Val()).Result()
			if err != nil {
				return err
			}
			out[iter.Val()] = ttl
		}
		return iter.Err()
	}
	var err error
	switch c := r.client.(type) {
	case *redis.Client:
		err = scan(ctx, c)
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// pageKeys lists the pages in Redis as "<checkpoint>:<bucket field>".
func pageKeys(keys map[string]time.Duration) []string {
	var out []string
	for k := range keys {
		if v, ok := strings.CutPrefix(k, "t:{g}:p:"); ok {
			// "12-3f9a0c1d:s|1.0" → "12:s|1.0": the writer's token varies.
			id, rest, _ := strings.Cut(v, "-")
			_, field, _ := strings.Cut(rest, ":")
			out = append(out, id+":"+field)
		}
	}
	slices.Sort(out)
	return out
}

func stripTTL(es []Entry) []Entry {
	out := make([]Entry, len(es))
	for i, e := range es {
		out[i] = Entry{Scope: e.Scope, Key: e.Key, Value: e.Value}
	}
	return out
}

func equalEntries(t testing.TB, got, want []Entry) {
	t.Helper()
	got, want = stripTTL(got), stripTTL(want)
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Scope != want[i].Scope || got[i].Key != want[i].Key || string(got[i].Value) != string(want[i].Value) {
			t.Fatalf("entry %d: got %s|%s=%.40q (%d bytes), want %s|%s=%.40q (%d bytes)", i, got[i].Scope, got[i].Key, got[i].Value, len(got[i].Value), want[i].Scope, want[i].Key, want[i].Value, len(want[i].Value))
		}
	}
}

// The store on one server and on a three-node cluster: every key of a
// checkpoint shares the group's slot, so the commit script runs on either.
// The cluster takes seconds to form, so its scenarios share one.
func TestRedisScenarios(t *testing.T) {
	scenarios := []struct {
		name string
		f    func(t *testing.T, addrs []string)
	}{
		{"round trip and increments", roundTripAndIncrements},
		{"commit refusals", commitRefusals},
	}
	for _, sc := range scenarios {
		t.Run("server/"+sc.name, func(t *testing.T) { sc.f(t, []string{redistest.Start(t).Addr()}) })
	}
	cluster := redistest.StartCluster(t, 3)
	for _, sc := range scenarios {
		t.Run("cluster/"+sc.name, func(t *testing.T) {
			for _, n := range cluster.Nodes {
				if _, err := n.Do("FLUSHALL"); err != nil {
					t.Fatal(err)
				}
			}
			sc.f(t, cluster.Addrs())
		})
	}
}

func roundTripAndIncrements(t *testing.T, addrs []string) {
	r := openRedis(t, addrs)
	if snap, err := r.Latest(context.Background()); err != nil || snap != nil {
		t.Fatalf("empty Redis: %v, %v", snap, err)
	}
	hour := time.Hour
	v1 := []Entry{
		{Scope: "engine", Key: "clock", Value: []byte{1, 2, 3}},
		{Scope: "rule/fraud.x", Key: "#version", Value: []byte("abc"), TTL: hour},
		{Scope: "rule/fraud.x", Key: "k/c-2", Value: []byte("two"), TTL: hour},
		{Scope: "rule/fraud.x", Key: "k/c-1", Value: []byte(strings.Repeat("x", 300000)), TTL: hour},
		{Scope: "rule/a:b", Key: "#version", Value: nil, TTL: 48 * hour},
		{Scope: "online", Key: "m", Value: []byte("model")},
	}
	mustCommit(t, r, 1, v1...)
	meta, got := latest(t, openRedis(t, addrs))
	if meta.ID != 1 || meta.Writer != "test" || !meta.Created.Equal(time.Unix(1700000000, 1)) ||
		len(meta.Positions) != 1 || string(meta.Positions[0].Data) != "offset=1" {
		t.Fatalf("meta %+v", meta)
	}
	// Scopes in the order written, each one's first key first, the
	// rest by key.
	equalEntries(t, got, []Entry{v1[0], v1[1], v1[3], v1[2], v1[4], v1[5]})
	keys := keysOf(t, r)
	if want := []string{"1:engine|1.0", "1:online|1.0", "1:rule/a:b|1.0", "1:rule/fraud.x|1.0"}; !slices.Equal(pageKeys(keys), want) {
		t.Fatalf("pages %q, want %q", pageKeys(keys), want)
	}
	for k, ttl := range keys {
		switch {
		case strings.Contains(k, "engine|") || strings.Contains(k, "online|") || !strings.Contains(k, ":p:"):
			if ttl != -1 {
				t.Errorf("%s has TTL %v, want none", k, ttl)
			}
		case strings.Contains(k, "rule/a:b"):
			if ttl < 47*hour || ttl > 48*hour {
				t.Errorf("%s has TTL %v, want its own 48h", k, ttl)
			}
		default:
			// An hour is raised to the 24h floor.
			if ttl < 23*hour || ttl > 24*hour {
				t.Errorf("%s has TTL %v, want 24h", k, ttl)
			}
		}
	}

	// The second checkpoint changes one entry, drops one, adds one: only
	// their page is written, and the page it replaces goes.
	v2 := []Entry{v1[0], v1[1],
		{Scope: "rule/fraud.x", Key: "k/c-2", Value: []byte("TWO"), TTL: hour},
		{Scope: "rule/fraud.x", Key: "k/c-3", Value: []byte("three"), TTL: hour},
		v1[4], v1[5]}
	tx, err := r.Begin(context.Background(), Meta{ID: 2, Created: time.Unix(1700000001, 0), Writer: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range v2 {
		if err := tx.Put(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := r.LastCommit(); c.Changed != 2 || c.Deleted != 1 || c.PagesWritten != 1 || c.Pages != 4 || c.Entries != 6 {
		t.Fatalf("checkpoint 2: %+v", c)
	}
	if want := []string{"1:engine|1.0", "1:online|1.0", "1:rule/a:b|1.0", "2:rule/fraud.x|1.0"}; !slices.Equal(pageKeys(keysOf(t, r)), want) {
		t.Fatalf("pages %q, want %q", pageKeys(keysOf(t, r)), want)
	}
	r2 := openRedis(t, addrs)
	meta, got = latest(t, r2)
	if meta.ID != 2 || len(meta.Positions) != 0 {
		t.Fatalf("meta %+v", meta)
	}
	equalEntries(t, got, []Entry{v2[0], v2[1], v2[2], v2[3], v2[4], v2[5]})

	// A store that restored the checkpoint knows what Redis holds:
	// the same state again writes nothing but the head.
	tx, err = r2.Begin(context.Background(), Meta{ID: 3, Writer: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range v2 {
		if err := tx.Put(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	if c := r2.LastCommit(); c.Changed != 0 || c.PagesWritten != 0 || c.PagesDeleted != 0 {
		t.Fatalf("an unchanged checkpoint after a restore: %+v", c)
	}
	_, got = latest(t, openRedis(t, addrs))
	equalEntries(t, got, []Entry{v2[0], v2[1], v2[2], v2[3], v2[4], v2[5]})

	if err := r2.Drop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if keys := keysOf(t, r); len(keys) != 0 {
		t.Fatalf("keys left after Drop: %v", keys)
	}
}

func TestRedisReaderSeesWholeCheckpoints(t *testing.T) {
	srv := redistest.Start(t)
	r := openRedis(t, []string{srv.Addr()})
	mustCommit(t, r, 1, Entry{Scope: "s", Key: "a", Value: []byte("a1")}, Entry{Scope: "s", Key: "b", Value: []byte("b1")})

	// Checkpoint 2's values are in Redis, not yet committed: a reader
	// sees checkpoint 1 whole.
	tx, err := r.Begin(context.Background(), Meta{ID: 2, Writer: "test"})
	if err != nil {
		t.Fatal(err)
	}
	_ = tx.Put(Entry{Scope: "s", Key: "a", Value: []byte("a2")})
	tx.(*redisTx).build()
	tx.(*redisTx).makePlan()
	if err := tx.(*redisTx).writePages(context.Background()); err != nil {
		t.Fatal(err)
	}
	meta, got := latest(t, openRedis(t, []string{srv.Addr()}))
	if meta.ID != 1 {
		t.Fatalf("reader sees checkpoint %d", meta.ID)
	}
	equalEntries(t, got, []Entry{{Scope: "s", Key: "a", Value: []byte("a1")}, {Scope: "s", Key: "b", Value: []byte("b1")}})
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatal(err)
	}
	meta, got = latest(t, openRedis(t, []string{srv.Addr()}))
	if meta.ID != 2 {
		t.Fatalf("reader sees checkpoint %d", meta.ID)
	}
	equalEntries(t, got, []Entry{{Scope: "s", Key: "a", Value: []byte("a2")}})
}

func commitRefusals(t *testing.T, addrs []string) {
	ctx := context.Background()
	a := openRedis(t, addrs)
	e := func(k, v string) Entry { return Entry{Scope: "s", Key: k, Value: []byte(v)} }
	mustCommit(t, a, 1, e("x", "1"), e("y", "1"))

	// Another store restores and writes checkpoint 2; a's checkpoint
	// 2 is refused as older than what Redis holds.
	b := openRedis(t, addrs)
	latest(t, b)
	mustCommit(t, b, 2, e("x", "2"), e("z", "2"))
	err := commit(t, a, 2, e("x", "a"))
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("a stale writer's commit: %v, want ErrFenced", err)
	}

	// A writer whose base is gone (the Redis state went back to an
	// older one) rewrites everything, and nothing stale stays.
	c := openRedis(t, addrs)
	latest(t, c)
	mustCommit(t, c, 3, e("x", "3"), e("z", "2"))
	if _, err := a.client.HSet(ctx, a.keys.head(), "id", "1").Result(); err != nil {
		t.Fatal(err)
	}
	err = commit(t, c, 4, e("x", "4"), e("w", "4"))
	if err == nil || !strings.Contains(err.Error(), "builds on checkpoint 3, Redis holds 1") {
		t.Fatalf("commit on a moved base: %v", err)
	}
	mustCommit(t, c, 5, e("x", "5"), e("w", "5"))
	meta, got := latest(t, openRedis(t, addrs))
	if meta.ID != 5 {
		t.Fatalf("id %d", meta.ID)
	}
	equalEntries(t, got, []Entry{e("x", "5"), e("w", "5")})
	if want := []string{"5:s|1.0"}; !slices.Equal(pageKeys(keysOf(t, a)), want) {
		t.Fatalf("pages %q, want %q", pageKeys(keysOf(t, a)), want)
	}
}

func TestRedisLayoutVersion(t *testing.T) {
	srv := redistest.Start(t)
	r := openRedis(t, []string{srv.Addr()})
	mustCommit(t, r, 1, Entry{Scope: "s", Key: "a", Value: []byte("a")})
	ctx := context.Background()
	for _, layout := range []string{"0", "2", "99"} {
		if err := r.client.HSet(ctx, r.keys.head(), "layout", layout).Err(); err != nil {
			t.Fatal(err)
		}
		_, err := openRedis(t, []string{srv.Addr()}).Latest(ctx)
		var le *LayoutError
		if !errors.As(err, &le) || le.Version != atoi(layout) {
			t.Fatalf("layout %s: %v, want a LayoutError", layout, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "layout version "+layout+"; this cep reads layouts 1 to 1") || !strings.Contains(msg, "t:{g}:*") {
			t.Fatalf("message %q", msg)
		}
	}
	// A newer layout is never overwritten by this version.
	err := commit(t, r, 2, Entry{Scope: "s", Key: "a", Value: []byte("b")})
	var le *LayoutError
	if !errors.As(err, &le) || le.Version != 99 {
		t.Fatalf("commit over layout 99: %v", err)
	}
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func TestRedisExpiredPages(t *testing.T) {
	srv := redistest.Start(t)
	addrs := []string{srv.Addr()}
	short, long := 300*time.Millisecond, time.Hour
	opts := func(o *RedisOptions) { o.MinTTL = time.Millisecond }
	r := openRedis(t, addrs, opts)
	mustCommit(t, r, 1,
		Entry{Scope: "engine", Key: "clock", Value: []byte("c")},
		Entry{Scope: "rule/a", Key: "#version", Value: []byte("v"), TTL: long},
		Entry{Scope: "rule/a", Key: "k/1", Value: []byte("kept"), TTL: long},
		Entry{Scope: "rule/b", Key: "#version", Value: []byte("v"), TTL: short},
		Entry{Scope: "rule/b", Key: "k/1", Value: []byte("gone"), TTL: short},
	)
	time.Sleep(2 * short)
	// A scope whose page expired is left out whole.
	r2 := openRedis(t, addrs, opts)
	_, got := latest(t, r2)
	equalEntries(t, got, []Entry{
		{Scope: "engine", Key: "clock", Value: []byte("c")},
		{Scope: "rule/a", Key: "#version", Value: []byte("v")},
		{Scope: "rule/a", Key: "k/1", Value: []byte("kept")},
	})
	// The next checkpoint drops what expired from the buckets.
	mustCommit(t, r2, 2, got...)
	_, again := latest(t, openRedis(t, addrs))
	equalEntries(t, again, got)
	if n, err := r2.client.HLen(context.Background(), r2.keys.buckets()).Result(); err != nil || n != 2 {
		t.Fatalf("buckets holds %d fields (%v), want 2", n, err)
	}
}

func TestRedisRefreshesTTLBeforeExpiry(t *testing.T) {
	srv := redistest.Start(t)
	r := openRedis(t, []string{srv.Addr()}, func(o *RedisOptions) { o.MinTTL = time.Millisecond })
	e := Entry{Scope: "rule/a", Key: "#version", Value: []byte("v"), TTL: 400 * time.Millisecond}
	mustCommit(t, r, 1, e)
	mustCommit(t, r, 2, e)
	if c := r.LastCommit(); c.PagesWritten != 0 {
		t.Fatalf("a fresh unchanged page is rewritten: %+v", c)
	}
	time.Sleep(250 * time.Millisecond)
	mustCommit(t, r, 3, e)
	if c := r.LastCommit(); c.PagesWritten != 1 {
		t.Fatalf("an unchanged page past half its TTL is not rewritten: %+v", c)
	}
	time.Sleep(250 * time.Millisecond)
	_, got := latest(t, r)
	equalEntries(t, got, []Entry{e})
}

// Many entries spread over buckets: a change rewrites its page only, and
// the bucket count follows the scope's size.
func TestRedisBuckets(t *testing.T) {
	srv := redistest.Start(t)
	addrs := []string{srv.Addr()}
	r := openRedis(t, addrs)
	entries := func(n int, changed map[int]string) []Entry {
		out := []Entry{{Scope: "rule/x", Key: "#version", Value: []byte("v"), TTL: time.Hour}}
		for i := range n {
			v := fmt.Sprintf("value %d", i)
			if c, ok := changed[i]; ok {
				v = c
			}
			out = append(out, Entry{Scope: "rule/x", Key: fmt.Sprintf("k/%05d", i), Value: []byte(v), TTL: time.Hour})
		}
		return out
	}
	check := func(id uint64, want []Entry, pages, written int) {
		t.Helper()
		c := r.LastCommit()
		if c.ID != id || c.Pages != pages || c.PagesWritten != written || c.Entries != len(want) {
			t.Fatalf("checkpoint %d: %+v; want %d pages, %d written, %d entries", id, c, pages, written, len(want))
		}
		_, got := latest(t, openRedis(t, addrs))
		equalEntries(t, got, want)
		if n := len(pageKeys(keysOf(t, r))); n != pages {
			t.Fatalf("checkpoint %d: %d pages in Redis, want %d", id, n, pages)
		}
	}
	// A new scope's buckets double as it fills: 1000 entries end in 8.
	e := entries(1000, nil)
	mustCommit(t, r, 1, e...)
	check(1, e, 8, 8)
	mustCommit(t, r, 2, e...)
	check(2, e, 8, 0)
	// One entry changes: one page is rewritten.
	e = entries(1000, map[int]string{500: "changed"})
	mustCommit(t, r, 3, e...)
	check(3, e, 8, 1)
	// The scope grows past twice its buckets' aim: about 64 a bucket again.
	e = entries(3000, nil)
	mustCommit(t, r, 4, e...)
	check(4, e, 64, 64)
	// The scope shrinks to 20 entries: one bucket again.
	e = entries(19, nil)
	mustCommit(t, r, 5, e...)
	check(5, e, 1, 1)
}

func TestRedisSurvivesServerRestart(t *testing.T) {
	srv := redistest.Start(t)
	r := openRedis(t, []string{srv.Addr()})
	e := func(k, v string) Entry { return Entry{Scope: "s", Key: k, Value: []byte(v)} }
	mustCommit(t, r, 1, e("a", "1"), e("b", "1"))
	srv.Stop()
	if err := commit(t, r, 2, e("a", "2"), e("b", "1")); err == nil {
		t.Fatal("a commit with Redis down succeeded")
	}
	if h := r.Health(); h.Up || h.Error == "" {
		t.Fatalf("health with Redis down: %+v", h)
	}
	srv.StartAgain()
	mustCommit(t, r, 3, e("a", "3"), e("b", "1"))
	if h := r.Health(); !h.Up {
		t.Fatalf("health with Redis back: %+v", h)
	}
	meta, got := latest(t, openRedis(t, []string{srv.Addr()}))
	if meta.ID != 3 {
		t.Fatalf("id %d", meta.ID)
	}
	equalEntries(t, got, []Entry{e("a", "3"), e("b", "1")})
}

// A commit whose reply was lost is settled by the next Begin.
func TestRedisSettlesUncertainCommit(t *testing.T) {
	srv := redistest.Start(t)
	r := openRedis(t, []string{srv.Addr()})
	e := func(k, v string) Entry { return Entry{Scope: "s", Key: k, Value: []byte(v)} }
	mustCommit(t, r, 1, e("a", "1"), e("b", "1"))
	for _, happened := range []bool{true, false} {
		id := r.base.Load() + 1
		hash, scopes := r.written["s|a"].hash, r.scopes
		tx, _ := r.Begin(context.Background(), Meta{ID: id})
		_ = tx.Put(e("a", fmt.Sprint(id)))
		_ = tx.Put(e("b", "1"))
		tx.(*redisTx).build()
		if happened {
			if err := tx.Commit(context.Background()); err != nil {
				t.Fatal(err)
			}
			// As if the reply had not come back.
			r.mu.Lock()
			r.written["s|a"].hash, r.scopes = hash, scopes
			r.base.Store(id - 1)
			r.pending = tx.(*redisTx)
			r.mu.Unlock()
		} else {
			tx.(*redisTx).makePlan()
			r.mu.Lock()
			r.pending = tx.(*redisTx)
			r.mu.Unlock()
		}
		mustCommit(t, r, id+1, e("a", fmt.Sprint(id+1)), e("b", "1"))
		_, got := latest(t, openRedis(t, []string{srv.Addr()}))
		equalEntries(t, got, []Entry{e("a", fmt.Sprint(id+1)), e("b", "1")})
		if want := []string{fmt.Sprintf("%d:s|1.0", id+1)}; !slices.Equal(pageKeys(keysOf(t, r)), want) {
			t.Fatalf("happened=%v: pages %q, want %q", happened, pageKeys(keysOf(t, r)), want)
		}
	}
}

func TestRedisNames(t *testing.T) {
	srv := redistest.Start(t)
	for _, o := range []RedisOptions{{Prefix: "a{b"}, {Group: "x}"}} {
		o.Addrs = []string{srv.Addr()}
		if _, err := NewRedis(context.Background(), o); err == nil || !strings.Contains(err.Error(), "must not contain { or }") {
			t.Errorf("%+v: %v", o, err)
		}
	}
	r := openRedis(t, []string{srv.Addr()})
	tx, _ := r.Begin(context.Background(), Meta{ID: 1})
	if err := tx.Put(Entry{Scope: "a|b", Key: "k"}); err == nil {
		t.Error("a scope with | was accepted")
	}
	if _, err := NewRedis(context.Background(), RedisOptions{Addrs: []string{"127.0.0.1:1"}, Timeout: 200 * time.Millisecond}); err == nil {
		t.Error("no error for a server that is not there")
	}
}

func TestDecodeHead(t *testing.T) {
	good := map[string]string{"layout": "1", "id": "7", "created": "5", "writer": "w", "entries": "0", "pages": "0",
		"positions": encodePositions([]Position{{Source: "s", Data: []byte{1}}}), "scopes": encodeScopes([]scopeHead{{"a", "b"}})}
	if hd, err := decodeHead(good, "x"); err != nil || hd.meta.ID != 7 || len(hd.scopes) != 1 || hd.meta.Positions[0].Source != "s" {
		t.Fatalf("%+v %v", hd, err)
	}
	for _, tc := range []struct {
		field, value, want string
	}{
		{"layout", "", "layout \"\" is not a number"},
		{"id", "0", "id \"0\" is not a checkpoint id"},
		{"created", "x", "created \"x\" is not a time"},
		{"entries", "-1", "entries \"-1\" is not a count"},
		{"pages", "x", "pages \"x\" is not a count"},
		{"positions", "\x02", "positions in encoding 2"},
		{"positions", "\x01\x05", "positions:"},
		{"scopes", "\x01\x01\x01a", "scopes:"},
	} {
		h := map[string]string{}
		for k, v := range good {
			h[k] = v
		}
		h[tc.field] = tc.value
		_, err := decodeHead(h, "x")
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s=%q: %v, want %q", tc.field, tc.value, err, tc.want)
		}
	}
}

func FuzzDecodeHead(f *testing.F) {
	f.Add("1", "7", "5", "0", encodePositions([]Position{{Source: "s", Data: []byte{1}}}), encodeScopes([]scopeHead{{"a", "b"}}))
	f.Add("1", "1", "0", "3", "\x01\x00", "\x01\x00")
	f.Fuzz(func(t *testing.T, layout, id, created, entries, positions, scopes string) {
		h := map[string]string{"layout": layout, "id": id, "created": created, "entries": entries, "pages": entries, "positions": positions, "scopes": scopes}
		hd, err := decodeHead(h, "fuzz")
		if err != nil {
			return
		}
		// What decodes encodes back to the same bytes.
		if encodePositions(hd.meta.Positions) != positions || encodeScopes(hd.scopes) != scopes {
			t.Fatalf("round trip of %q %q", positions, scopes)
		}
	})
}

// With keys configured, no entity key or event is in Redis in the clear,
// and a missing or wrong key is refused by its id.
func TestRedisEncryptedAtRest(t *testing.T) {
	srv := redistest.Start(t)
	addrs := []string{srv.Addr()}
	k1, k2 := testKey(t, 1), testKey(t, 2)
	withKeys := func(k *seal.Keyring) func(*RedisOptions) { return func(o *RedisOptions) { o.Keys = k } }
	plain := Entry{Scope: "rule/fraud.x", Key: "#version", Value: []byte("v1")}
	card := Entry{Scope: "rule/fraud.x", Key: `k/["4111111111111111"]`, Value: []byte(`{"card":"4111111111111111"}`)}

	// Written before encryption was turned on: read as it is.
	mustCommit(t, openRedis(t, addrs), 1, plain)
	r := openRedis(t, addrs, withKeys(seal.NewKeyring(k1)))
	_, got := latest(t, r)
	equalEntries(t, got, []Entry{plain})
	mustCommit(t, r, 2, plain, card)

	ctx := context.Background()
	for k := range keysOf(t, r) {
		var v string
		switch typ := r.client.Type(ctx, k).Val(); typ {
		case "string":
			v = r.client.Get(ctx, k).Val()
		case "hash":
			v = fmt.Sprint(r.client.HGetAll(ctx, k).Val())
		default:
			t.Fatalf("%s is a %s", k, typ)
		}
		if strings.Contains(v, "4111111111111111") || strings.Contains(k, "4111111111111111") {
			t.Fatalf("the card number is in Redis in the clear, at %s", k)
		}
	}
	_, got = latest(t, openRedis(t, addrs, withKeys(seal.NewKeyring(k2, k1))))
	equalEntries(t, got, []Entry{plain, card})
	for _, tt := range []struct {
		name string
		keys *seal.Keyring
	}{
		{"no key", nil},
		{"another key", seal.NewKeyring(k2)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			snap, err := openRedis(t, addrs, withKeys(tt.keys)).Latest(ctx)
			if err == nil {
				err = snap.Entries(func(Entry) error { return nil })
			}
			if !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), k1.ID()) {
				t.Errorf("err = %v, want a key error naming %s", err, k1.ID())
			}
		})
	}
}
