package state

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cep-project/cep/state/redistest"
)

// waitFor polls cond for up to ten seconds: lease changes come from
// timers against a real server.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// activeAt1 makes l's process the active one and commits its first
// checkpoint, of one entry holding v.
func activeAt1(t *testing.T, r *Redis, l *Lease, v string) {
	t.Helper()
	if err := l.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Latest(context.Background()); err != nil {
		t.Fatal(err)
	}
	mustCommit(t, r, 1, Entry{Scope: "s", Key: "k", Value: []byte(v)})
}

// startActiveAt1 starts a Redis server and one process on it, active
// under a lease of ttl at its first checkpoint.
func startActiveAt1(t *testing.T, ttl time.Duration) (*redistest.Server, *Redis, *Lease) {
	t.Helper()
	srv := redistest.Start(t)
	r := openRedis(t, []string{srv.Addr()})
	l := r.NewLease(LeaseOptions{TTL: ttl})
	activeAt1(t, r, l, "1")
	return srv, r, l
}

func acquired(l *Lease) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- l.Acquire(context.Background()) }()
	return ch
}

func TestLeaseStandbyTakesOverOnRelease(t *testing.T) {
	srv := redistest.Start(t)
	a := openRedis(t, []string{srv.Addr()}).NewLease(LeaseOptions{TTL: 2 * time.Second, Holder: "a"})
	b := openRedis(t, []string{srv.Addr()}).NewLease(LeaseOptions{TTL: 2 * time.Second, Holder: "b"})
	if err := a.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !a.Held() || a.State() != LeaseActive {
		t.Fatalf("a: %v", a.State())
	}
	bDone := acquired(b)
	// b waits past several renewals of a's lease.
	time.Sleep(1500 * time.Millisecond)
	select {
	case err := <-bDone:
		t.Fatalf("b acquired a held lease: %v", err)
	default:
	}
	if b.State() != LeaseStandby || b.Held() {
		t.Fatalf("b: %v", b.State())
	}
	if err := a.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.Held() || a.State() != LeaseReleased {
		t.Fatalf("a after release: %v", a.State())
	}
	select {
	case err := <-bDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Second):
		t.Fatal("b did not take a released lease at once")
	}
	if !b.Held() {
		t.Fatal("b does not hold the lease")
	}
}

func TestLeaseLapsesWhenTheHolderDies(t *testing.T) {
	srv := redistest.Start(t)
	ttl := 600 * time.Millisecond
	a := openRedis(t, []string{srv.Addr()}).NewLease(LeaseOptions{TTL: ttl, Holder: "a"})
	b := openRedis(t, []string{srv.Addr()}).NewLease(LeaseOptions{TTL: ttl, Holder: "b"})
	if err := a.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	// a dies: it stops renewing without releasing.
	a.stop()
	<-a.done
	killed := time.Now()
	if err := b.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	took := time.Since(killed)
	if took > ttl+time.Second {
		t.Errorf("b took over %v after a died; the lease's TTL is %v", took, ttl)
	}
	// a's local deadline passed before b could take the lease.
	if a.Held() {
		t.Fatal("a still believes it holds the lease")
	}
	// a's renewal now finds b's lease: a has lost it for good.
	done := make(chan struct{})
	go func() { a.keep(context.Background()); close(done) }()
	<-done
	if a.State() != LeaseLost || !errors.Is(a.Lost(), ErrFenced) || !strings.Contains(a.Lost().Error(), "held by b") {
		t.Fatalf("a: %v %v", a.State(), a.Lost())
	}
}

func TestLeaseFencesCommits(t *testing.T) {
	srv := redistest.Start(t)
	ra, rb := openRedis(t, []string{srv.Addr()}), openRedis(t, []string{srv.Addr()})
	a := ra.NewLease(LeaseOptions{TTL: 500 * time.Millisecond, Holder: "a"})
	b := rb.NewLease(LeaseOptions{TTL: 500 * time.Millisecond, Holder: "b"})
	if err := a.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	e := Entry{Scope: "s", Key: "k", Value: []byte("a")}
	mustCommit(t, ra, 1, e)
	if err := commit(t, rb, 2, e); !errors.Is(err, ErrFenced) || !strings.Contains(err.Error(), "held by a") {
		t.Fatalf("a standby's commit: %v", err)
	}
	a.stop()
	<-a.done
	if err := b.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	latest(t, rb)
	mustCommit(t, rb, 2, Entry{Scope: "s", Key: "k", Value: []byte("b")})
	// a lost the lease: its commit is refused, and Redis keeps b's.
	if err := commit(t, ra, 2, Entry{Scope: "s", Key: "k", Value: []byte("late")}); !errors.Is(err, ErrFenced) {
		t.Fatalf("a fenced process's commit: %v", err)
	}
	meta, got := latest(t, openRedis(t, []string{srv.Addr()}))
	if meta.ID != 2 || string(got[0].Value) != "b" {
		t.Fatalf("Redis holds %d %q", meta.ID, got[0].Value)
	}
}

// While Redis is away the lease cannot be confirmed: the holder stops;
// when Redis returns with no other writer in between, it resumes.
func TestLeaseSuspendsWhileRedisIsDown(t *testing.T) {
	ttl := 600 * time.Millisecond
	srv, r, l := startActiveAt1(t, ttl)
	srv.Stop()
	waitFor(t, "the lease to be suspended", func() bool { return l.State() == LeaseSuspended })
	if l.Held() {
		t.Fatal("held while Redis is down")
	}
	if h := r.Health(); h.Up {
		t.Fatalf("health: %+v", h)
	}
	time.Sleep(ttl) // the lease expires in Redis too
	srv.StartAgain()
	waitFor(t, "the lease to be confirmed again", l.Held)
	if l.Lost() != nil {
		t.Fatal(l.Lost())
	}
	mustCommit(t, r, 2, Entry{Scope: "s", Key: "k", Value: []byte("2")})
}

// A process whose lease lapsed while another wrote a checkpoint has
// stale state: it must not take the lease back.
func TestLeaseNotRetakenAfterAnotherWrote(t *testing.T) {
	srv := redistest.Start(t)
	ra, rb := openRedis(t, []string{srv.Addr()}), openRedis(t, []string{srv.Addr()})
	ttl := 500 * time.Millisecond
	a := ra.NewLease(LeaseOptions{TTL: ttl, Holder: "a"})
	b := rb.NewLease(LeaseOptions{TTL: ttl, Holder: "b"})
	activeAt1(t, ra, a, "a")
	a.stop() // a stalls
	<-a.done
	if err := b.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	latest(t, rb)
	mustCommit(t, rb, 2, Entry{Scope: "s", Key: "k", Value: []byte("b")})
	if err := b.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	// a wakes up: the lease is free, but checkpoint 2 is not one a knows.
	a.keep(context.Background())
	if a.State() != LeaseLost || !strings.Contains(a.Lost().Error(), "checkpoint 2 was written since") {
		t.Fatalf("a: %v %v", a.State(), a.Lost())
	}
}

// A process whose lease lapsed while it was stalled takes it back if
// the last checkpoint is its own, also when it has not read the reply of
// that checkpoint's commit yet (the scale-out spec on a loaded machine:
// "checkpoint 10 was written since by another process", the process's
// own checkpoint 10).
func TestLeaseRetakenAfterItsOwnCommit(t *testing.T) {
	ttl := 500 * time.Millisecond
	_, r, l := startActiveAt1(t, ttl)
	r.base.Store(0) // as if the commit's reply had not been read
	l.stop()        // the process stalls
	<-l.done
	time.Sleep(ttl + 100*time.Millisecond) // the lease expires in Redis
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.keep(ctx)
	}()
	waitFor(t, "the lease to be taken again", func() bool { return l.Held() || l.Lost() != nil })
	cancel()
	<-done
	if err := l.Lost(); err != nil {
		t.Fatal(err)
	}
	r.base.Store(1) // the reply comes
	mustCommit(t, r, 2, Entry{Scope: "s", Key: "k", Value: []byte("2")})
}

// The renewal does not wait for the store's lock, which a restore or the
// settling of an earlier commit holds through calls to Redis.
func TestLeaseRenewedWhileTheStoreIsBusy(t *testing.T) {
	srv := redistest.Start(t)
	r := openRedis(t, []string{srv.Addr()})
	ttl := 2 * time.Second
	l := r.NewLease(LeaseOptions{TTL: ttl})
	if err := l.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	for end := time.Now().Add(ttl + time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if !l.Held() {
			r.mu.Unlock()
			t.Fatalf("lease %v while the store's lock was held", l.State())
		}
	}
	r.mu.Unlock()
}

func TestLeaseAcquireStopsWithItsContext(t *testing.T) {
	srv := redistest.Start(t)
	a := openRedis(t, []string{srv.Addr()}).NewLease(LeaseOptions{TTL: time.Second})
	b := openRedis(t, []string{srv.Addr()}).NewLease(LeaseOptions{TTL: time.Second})
	if err := a.Acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := b.Acquire(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("b: %v", err)
	}
	if err := b.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !a.Held() {
		t.Fatal("a standby's release let go of the holder's lease")
	}
}
