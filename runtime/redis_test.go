package runtime

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cep-project/cep/source"
	"github.com/cep-project/cep/state"
	"github.com/cep-project/cep/state/redistest"
)

// redisStore opens a store on srv as a new process would.
func redisStore(t *testing.T, srv *redistest.Server) *state.Redis {
	t.Helper()
	r, err := state.NewRedis(context.Background(), state.RedisOptions{Addrs: []string{srv.Addr()}, Group: "rt"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// The restart tests of runtime_test.go, with the state in Redis.
func TestRedisStopAndRestartEqualsOneRun(t *testing.T) {
	dir := t.TempDir()
	writeStreams(t, dir, 4000)
	whole, _ := runOnce(t, dir, runOpts{})
	want := whole.ids()
	for _, stop := range []int{1, 5, 12} {
		t.Run(fmt.Sprintf("stop after %d batches", stop), func(t *testing.T) {
			srv := redistest.Start(t)
			first, res := runOnce(t, dir, runOpts{store: redisStore(t, srv), stopAfter: stop})
			if !res.Interrupted {
				t.Fatal("the first run was not interrupted")
			}
			second, res2 := runOnce(t, dir, runOpts{store: redisStore(t, srv)})
			if res2.Restored == nil {
				t.Fatal("the second run restored nothing")
			}
			got := append(first.ids(), second.ids()...)
			if !slices.Equal(got, want) {
				t.Errorf("%d+%d alerts, want %d; first difference at %d", len(first.ids()), len(second.ids()), len(want), firstDiff(got, want))
			}
		})
	}
}

func TestRedisCrashAndRestartLosesNoAlert(t *testing.T) {
	dir := t.TempDir()
	writeStreams(t, dir, 20000)
	whole, _ := runOnce(t, dir, runOpts{})
	want := whole.ids()
	for _, crashAt := range []int{1, 4} {
		t.Run(fmt.Sprintf("crash after %d checkpoints", crashAt), func(t *testing.T) {
			srv := redistest.Start(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var left atomic.Int64
			left.Store(int64(crashAt))
			store := crashingStore{redisStore(t, srv), &left, cancel}
			trigger := make(chan struct{}, 1)
			srcs := sources(dir)
			for i, s := range srcs {
				srcs[i] = checkpointing{s, trigger}
			}
			sink := &memSink{}
			rt, err := New(Config{Mode: Service, Rules: compile(t), Sources: srcs, Sink: sink, Store: store, Checkpoints: trigger})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := rt.Run(ctx); err != nil {
				t.Fatal(err)
			}
			// The restart is a new process: a new store with an empty
			// mirror, reading what Redis holds.
			second, _ := runOnce(t, dir, runOpts{store: redisStore(t, srv)})
			got := append(sink.ids(), second.ids()...)
			if !sameSet(got, want) {
				t.Fatalf("alert ids differ from one run's: %d vs %d", len(got), len(want))
			}
		})
	}
}

// counted counts the batches a source hands over.
type counted struct {
	source.Source
	n *atomic.Int64
}

func (s counted) Run(ctx context.Context, from source.Positions, out chan<- source.Batch) error {
	mid := make(chan source.Batch)
	go func() {
		defer close(mid)
		_ = s.Source.Run(ctx, from, mid)
	}()
	for b := range mid {
		select {
		case out <- b:
			s.n.Add(1)
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

// While Redis is down, checkpoints fail and the lease cannot be
// confirmed: the loop stops reading, and resumes when Redis is back; the
// alerts are those of one run, each once.
func TestRedisOutagePausesReading(t *testing.T) {
	dir := t.TempDir()
	writeStreams(t, dir, 6000)
	whole, _ := runOnce(t, dir, runOpts{})
	want := whole.ids()

	srv := redistest.Start(t)
	store := redisStore(t, srv)
	lease := store.NewLease(state.LeaseOptions{TTL: 500 * time.Millisecond})
	trigger := make(chan struct{}, 1)
	var batches atomic.Int64
	reached, open := make(chan struct{}, 1), make(chan struct{})
	srcs := sources(dir)
	for i, s := range srcs {
		srcs[i] = counted{gated{checkpointing{s, trigger}, &batches, 4, reached, open}, &batches}
	}
	sink := &memSink{}
	rt, err := New(Config{Mode: Service, Rules: compile(t), Sources: srcs, Sink: sink, Store: store, Lease: lease,
		Checkpoints: trigger, Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan *Result, 1)
	go func() {
		res, err := rt.Run(context.Background())
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	waitUntil(t, "a checkpoint", func() bool { return rt.Status().Checkpoints > 0 })
	<-reached // the sources wait for the outage to begin
	srv.Stop()
	close(open)
	waitUntil(t, "reading to stop", func() bool { return !rt.Status().Reading })
	st := rt.Status()
	if st.Role != RolePaused && st.Role != RoleSuspended {
		t.Fatalf("role %q while Redis is down", st.Role)
	}
	n := batches.Load()
	time.Sleep(time.Second)
	if got := batches.Load(); got > n+1 {
		t.Fatalf("%d batches read while Redis was down", got-n)
	}
	srv.StartAgain()
	res := <-done
	if res.Fenced != nil {
		t.Fatalf("fenced: %v", res.Fenced)
	}
	if got := sink.ids(); !slices.Equal(got, want) {
		t.Fatalf("%d alerts, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
	}
	if res.CheckpointErrors == 0 {
		t.Fatal("no checkpoint failed while Redis was down")
	}
}

// gated hands over batches until at of them went (counted across
// sources), then says so on reached and waits for open to be closed.
type gated struct {
	source.Source
	n       *atomic.Int64
	at      int64
	reached chan struct{}
	open    chan struct{}
}

func (s gated) Run(ctx context.Context, from source.Positions, out chan<- source.Batch) error {
	mid := make(chan source.Batch)
	go func() {
		defer close(mid)
		_ = s.Source.Run(ctx, from, mid)
	}()
	for b := range mid {
		if s.n.Load() >= s.at {
			select {
			case s.reached <- struct{}{}:
			default:
			}
			select {
			case <-s.open:
			case <-ctx.Done():
				return nil
			}
		}
		select {
		case out <- b:
		case <-ctx.Done():
			return nil
		}
	}
	return nil
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// holding hands over its first n batches (counted across sources), then
// holds on until stopped, as a live source does.
type holding struct {
	source.Source
	n *atomic.Int64
}

func (s holding) Run(ctx context.Context, from source.Positions, out chan<- source.Batch) error {
	mid := make(chan source.Batch)
	go func() {
		defer close(mid)
		_ = s.Source.Run(ctx, from, mid)
	}()
	for b := range mid {
		if s.n.Add(-1) < 0 {
			break
		}
		select {
		case out <- b:
		case <-ctx.Done():
			return nil
		}
	}
	<-ctx.Done()
	return nil
}

// Two processes on one Redis: the second waits, reading nothing, while
// the first holds the lease; when the first stops, the second restores its
// checkpoint and goes on; together they emit one run's alerts.
func TestRedisStandbyTakesOver(t *testing.T) {
	dir := t.TempDir()
	writeStreams(t, dir, 4000)
	whole, _ := runOnce(t, dir, runOpts{})
	want := whole.ids()
	srv := redistest.Start(t)

	sa := redisStore(t, srv)
	var left atomic.Int64
	left.Store(6)
	srcsA := sources(dir)
	for i, s := range srcsA {
		srcsA[i] = holding{s, &left}
	}
	sinkA := &memSink{}
	a, err := New(Config{Mode: Service, Rules: compile(t), Sources: srcsA, Sink: sinkA, Store: sa,
		Lease: sa.NewLease(state.LeaseOptions{TTL: time.Second, Holder: "a"}), Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctxA, stopA := context.WithCancel(context.Background())
	doneA := make(chan *Result, 1)
	go func() { res, _ := a.Run(ctxA); doneA <- res }()
	waitUntil(t, "a to be active", func() bool { return a.Status().Role == RoleActive })

	sb := redisStore(t, srv)
	var readB atomic.Int64
	srcsB := sources(dir)
	for i, s := range srcsB {
		srcsB[i] = counted{s, &readB}
	}
	sinkB := &memSink{}
	b, err := New(Config{Mode: Service, Rules: compile(t), Sources: srcsB, Sink: sinkB, Store: sb,
		Lease: sb.NewLease(state.LeaseOptions{TTL: time.Second, Holder: "b"}), Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	doneB := make(chan *Result, 1)
	go func() { res, _ := b.Run(context.Background()); doneB <- res }()
	waitUntil(t, "b to be standby", func() bool { return b.Status().Role == RoleStandby })
	waitUntil(t, "a to read its batches", func() bool { return left.Load() <= 0 })
	time.Sleep(300 * time.Millisecond)
	if readB.Load() != 0 {
		t.Fatal("the standby read its sources")
	}
	stopA()
	resA := <-doneA
	if resA == nil || len(resA.Left) > 0 {
		t.Fatalf("a: %+v", resA)
	}
	resB := <-doneB
	if resB.Restored == nil || resB.Restored.ID == 0 {
		t.Fatal("b did not restore a's checkpoint")
	}
	got := append(sinkA.ids(), sinkB.ids()...)
	if !slices.Equal(got, want) {
		t.Errorf("%d+%d alerts, want %d; first difference at %d", len(sinkA.ids()), len(sinkB.ids()), len(want), firstDiff(got, want))
	}
}

// A process whose lease is taken stops at once: it emits nothing more and
// writes no checkpoint over its successor's.
func TestRedisLostLeaseFences(t *testing.T) {
	dir := t.TempDir()
	writeStreams(t, dir, 4000)
	srv := redistest.Start(t)
	store := redisStore(t, srv)
	var left atomic.Int64
	left.Store(4)
	srcs := sources(dir)
	for i, s := range srcs {
		srcs[i] = holding{s, &left}
	}
	sink := &memSink{}
	rt, err := New(Config{Mode: Service, Rules: compile(t), Sources: srcs, Sink: sink, Store: store,
		Lease: store.NewLease(state.LeaseOptions{TTL: 600 * time.Millisecond}), Interval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan *Result, 1)
	go func() { res, _ := rt.Run(context.Background()); done <- res }()
	waitUntil(t, "a checkpoint", func() bool { return rt.Status().Checkpoints > 0 })
	// Another process takes the lease (as after a long pause of this one).
	other := redisStore(t, srv)
	if err := other.Client().Set(context.Background(), "cep:{rt}:lease", "token other-host", 0).Err(); err != nil {
		t.Fatal(err)
	}
	res := <-done
	if !errors.Is(res.Fenced, state.ErrFenced) {
		t.Fatalf("fenced: %v", res.Fenced)
	}
	if st := rt.Status(); st.Role != RoleStopped {
		t.Fatalf("role %q", st.Role)
	}
	if n, _ := other.Client().Get(context.Background(), "cep:{rt}:lease").Result(); n != "token other-host" {
		t.Fatalf("the fenced process touched the lease: %q", n)
	}
}

// failingStore fails every commit while failing is set.
type failingStore struct {
	state.Store
	failing *atomic.Bool
}

func (s failingStore) Begin(ctx context.Context, m state.Meta) (state.Tx, error) {
	tx, err := s.Store.Begin(ctx, m)
	if err != nil {
		return nil, err
	}
	return failingTx{tx, s.failing}, nil
}

type failingTx struct {
	state.Tx
	failing *atomic.Bool
}

func (t failingTx) Commit(ctx context.Context) error {
	if t.failing.Load() {
		t.Abort()
		return errors.New("the store is unavailable")
	}
	return t.Tx.Commit(ctx)
}

// Checkpoints that keep failing stop the reading of sources until one
// succeeds; nothing is lost or repeated.
func TestFailingCheckpointsPauseReading(t *testing.T) {
	dir := t.TempDir()
	writeStreams(t, dir, 6000)
	whole, _ := runOnce(t, dir, runOpts{})
	want := whole.ids()

	var failing atomic.Bool
	store := failingStore{&state.Dir{Path: t.TempDir()}, &failing}
	trigger := make(chan struct{}, 1)
	var batches atomic.Int64
	reached, open := make(chan struct{}, 1), make(chan struct{})
	srcs := sources(dir)
	for i, s := range srcs {
		srcs[i] = counted{gated{checkpointing{s, trigger}, &batches, 4, reached, open}, &batches}
	}
	sink := &memSink{}
	rt, err := New(Config{Mode: Service, Rules: compile(t), Sources: srcs, Sink: sink, Store: store,
		Checkpoints: trigger, Interval: 20 * time.Millisecond, MaxFailedCheckpoints: 2})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan *Result, 1)
	go func() {
		res, err := rt.Run(context.Background())
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	<-reached
	failing.Store(true)
	close(open)
	waitUntil(t, "reading to pause", func() bool { return rt.Status().Role == RolePaused })
	if st := rt.Status(); st.Reading || st.FailedCheckpoints < 2 || st.LastError == "" {
		t.Fatalf("status while paused: %+v", st)
	}
	// Batches already on their way (a source's channel, the aligner's
	// hand-over, the loop's queue) may still be read; then reading stops.
	n := batches.Load()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		if m := batches.Load(); m == n {
			break
		} else {
			n = m
		}
	}
	time.Sleep(300 * time.Millisecond)
	if got := batches.Load(); got > n {
		t.Fatalf("%d batches read while paused, after the queues filled", got-n)
	}
	failing.Store(false)
	res := <-done
	if got := sink.ids(); !slices.Equal(got, want) {
		t.Fatalf("%d alerts, want %d; first difference at %d", len(got), len(want), firstDiff(got, want))
	}
	if res.CheckpointErrors < 2 || rt.Status().FailedCheckpoints != 0 {
		t.Fatalf("%d checkpoint errors; status %+v", res.CheckpointErrors, rt.Status())
	}
}
