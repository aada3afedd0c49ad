package runtime

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/source"
	"github.com/cep-project/cep/state"
)

// The rules of the restart tests: one of every detector kind and every
// kind of alert handling, so that each one's state must survive.
var restartRules = []string{
	`id: seq.brute-force
title: Failures then a success
streams: [auth]
by: [event.user]
sequence:
  within: 10m
  steps:
    - {name: fail, where: event.outcome == "failure", times: "3+"}
    - {name: ok, where: event.outcome == "success"}
`,
	`id: seq.no-payment
title: Checkout without payment
streams: [account, payments]
by: [event.user]
sequence:
  within: 5m
  steps:
    - {name: checkout, where: event.type == "checkout"}
    - {name: pay, where: event.type == "payment", not: true}
`,
	`id: win.velocity
title: Many payments in a minute
streams: [payments]
by: [event.user]
aggregate:
  window: {type: tumbling, size: 1m}
  measures:
    n: count()
    total: sum(event.amount)
  having: n >= 3
`,
	`id: win.sliding
title: Large sum over ten minutes
streams: [payments]
by: [event.user]
aggregate:
  window: {type: sliding, size: 10m}
  measures:
    total: sum(event.amount)
  having: total > 900.0
`,
	`id: join.login-pay
title: Login then payment
join:
  within: 2m
  type: left
  sides:
    - {name: login, stream: auth, where: event.outcome == "success", by: [event.user]}
    - {name: pay, stream: payments, where: event.type == "payment", by: [event.user]}
`,
	`id: match.big
title: Big payment
streams: [payments]
by: [event.user]
match: event.amount > 400.0
alert:
  dedup: 10m
`,
	`id: match.grouped
title: Failed logins, grouped
streams: [auth]
by: [event.user]
match: event.outcome == "failure"
alert:
  group: {by: [key], for: 5m}
`,
	`id: match.throttled
title: Checkouts, throttled
streams: [account]
match: event.type == "checkout"
alert:
  throttle: {max: 3, per: 10m}
`,
}

func compile(t testing.TB) []*rules.Rule {
	t.Helper()
	c, err := rules.NewCompiler(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*rules.Rule
	for i, src := range restartRules {
		r, errs := c.CompileFile(fmt.Sprintf("r%d.yaml", i), []byte(src))
		if r == nil {
			t.Fatalf("rule %d: %v", i, errs)
		}
		out = append(out, r)
	}
	return out
}

// writeStreams writes three streams of generated events, each in time
// order but for a little disorder within the allowed lateness.
func writeStreams(t testing.TB, dir string, n int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 7))
	files := map[string]*strings.Builder{"auth": {}, "payments": {}, "account": {}}
	base := int64(1_700_000_000_000)
	for i := range n {
		ms := base + int64(i)*900 + rng.Int64N(800)
		user := fmt.Sprintf("u%d", rng.IntN(40))
		switch rng.IntN(6) {
		case 0, 1:
			outcome := "failure"
			if rng.IntN(3) == 0 {
				outcome = "success"
			}
			fmt.Fprintf(files["auth"], `{"id":"a%d","ts":%d,"user":%q,"outcome":%q}`+"\n", i, ms, user, outcome)
		case 2, 3, 4:
			fmt.Fprintf(files["payments"], `{"id":"p%d","ts":%d,"user":%q,"type":"payment","amount":%d}`+"\n", i, ms, user, 10+rng.IntN(500))
		default:
			fmt.Fprintf(files["account"], `{"id":"c%d","ts":%d,"user":%q,"type":"checkout"}`+"\n", i, ms, user)
		}
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name+".jsonl"), []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// memSink collects alerts; every alert is delivered when sent.
type memSink struct {
	mu     sync.Mutex
	alerts []*alert.Alert
}

func (s *memSink) Send(_ context.Context, a *alert.Alert) error {
	s.mu.Lock()
	s.alerts = append(s.alerts, a)
	s.mu.Unlock()
	return nil
}
func (s *memSink) Mark() uint64                       { return 0 }
func (s *memSink) Wait(context.Context, uint64) error { return nil }
func (s *memSink) Close(context.Context) error        { return nil }

func (s *memSink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.alerts))
	for i, a := range s.alerts {
		out[i] = a.ID
	}
	return out
}

// stopAfter cancels a run once its sources have handed over n batches.
type stopAfter struct {
	source.Source
	n      *atomic.Int64
	cancel context.CancelFunc
}

func (s stopAfter) Run(ctx context.Context, from source.Positions, out chan<- source.Batch) error {
	mid := make(chan source.Batch)
	go func() {
		defer close(mid)
		_ = s.Source.Run(ctx, from, mid)
	}()
	for b := range mid {
		select {
		case out <- b:
		case <-ctx.Done():
			return nil
		}
		if s.n.Add(-1) == 0 {
			s.cancel()
		}
	}
	return nil
}

func sources(dir string) []source.Source {
	var out []source.Source
	for _, st := range []string{"account", "auth", "payments"} {
		out = append(out, &source.File{Spec: source.Spec{Name: st, Stream: st}, Path: filepath.Join(dir, st+".jsonl")})
	}
	return out
}

// crashingStore commits a number of checkpoints, then "crashes": it
// commits nothing more and stops the run, as a process killed at that
// moment leaves its newest committed checkpoint behind.
type crashingStore struct {
	state.Store
	left   *atomic.Int64
	cancel context.CancelFunc
}

func (s crashingStore) Begin(ctx context.Context, m state.Meta) (state.Tx, error) {
	tx, err := s.Store.Begin(ctx, m)
	if err != nil {
		return nil, err
	}
	return crashingTx{tx, s}, nil
}

type crashingTx struct {
	state.Tx
	s crashingStore
}

func (t crashingTx) Commit(ctx context.Context) error {
	if t.s.left.Add(-1) < 0 {
		t.s.cancel()
		t.Abort()
		return errors.New("crashed")
	}
	return t.Tx.Commit(ctx)
}

type runOpts struct {
	busyPoll   time.Duration
	store      state.Store
	stopAfter  int
	checkEvery chan struct{}
}

func runOnce(t *testing.T, dir string, o runOpts) (*memSink, *Result) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srcs := sources(dir)
	if o.stopAfter > 0 {
		var n atomic.Int64
		n.Store(int64(o.stopAfter))
		for i, s := range srcs {
			srcs[i] = stopAfter{s, &n, cancel}
		}
	}
	sink := &memSink{}
	rt, err := New(Config{Mode: Service, Rules: compile(t), Sources: srcs, Sink: sink, Store: o.store, Writer: "test", Checkpoints: o.checkEvery, BusyPoll: o.busyPoll})
	if err != nil {
		t.Fatal(err)
	}
	res, err := rt.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return sink, res
}

// A graceful stop at any point, then a restart, gives exactly the alerts
// of one uninterrupted run, in the same order, with no duplicate.
func TestStopAndRestartEqualsOneRun(t *testing.T) {
	dir := t.TempDir()
	writeStreams(t, dir, 4000)
	whole, res := runOnce(t, dir, runOpts{})
	want := whole.ids()
	if len(want) < 100 {
		t.Fatalf("only %d alerts: the test needs more", len(want))
	}
	if res.Interrupted {
		t.Fatal("the whole run was interrupted")
	}
	kinds := map[string]int{}
	for _, a := range whole.alerts {
		kinds[a.Rule]++
	}
	for _, r := range compile(t) {
		if kinds[r.ID] == 0 {
			t.Errorf("rule %s never fired in the whole run: its state is not tested", r.ID)
		}
	}
	for _, stop := range []int{1, 3, 7, 12} {
		t.Run(fmt.Sprintf("stop after %d batches", stop), func(t *testing.T) {
			store := &state.Dir{Path: t.TempDir()}
			first, res := runOnce(t, dir, runOpts{store: store, stopAfter: stop})
			if !res.Interrupted {
				t.Fatal("the first run was not interrupted")
			}
			second, res2 := runOnce(t, dir, runOpts{store: store})
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

// A crash loses the work since the last committed checkpoint: the restart
// redoes it, so the alerts are the same set, and the duplicates are only
// alerts of that last interval.
func TestCrashAndRestartLosesNoAlert(t *testing.T) {
	dir := t.TempDir()
	writeStreams(t, dir, 20000)
	whole, _ := runOnce(t, dir, runOpts{})
	want := whole.ids()
	for _, crashAt := range []int{1, 3, 6} {
		t.Run(fmt.Sprintf("crash after %d checkpoints", crashAt), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var left atomic.Int64
			left.Store(int64(crashAt))
			dirStore := &state.Dir{Path: t.TempDir()}
			store := crashingStore{dirStore, &left, cancel}
			// A checkpoint is asked for after every batch.
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
			res, err := rt.Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !res.Interrupted || res.Checkpoints != crashAt {
				t.Fatalf("interrupted %v after %d checkpoints, want %d", res.Interrupted, res.Checkpoints, crashAt)
			}
			second, _ := runOnce(t, dir, runOpts{store: dirStore})
			got := append(sink.ids(), second.ids()...)
			if !sameSet(got, want) {
				t.Fatalf("alert ids differ from one run's: %d vs %d", len(got), len(want))
			}
			if dups := len(got) - len(want); dups > len(sink.ids()) {
				t.Errorf("%d duplicates, more than the first run emitted", dups)
			}
		})
	}
}

// checkpointing asks for a checkpoint after each batch it hands over.
type checkpointing struct {
	source.Source
	trigger chan struct{}
}

func (s checkpointing) Run(ctx context.Context, from source.Positions, out chan<- source.Batch) error {
	mid := make(chan source.Batch)
	go func() {
		defer close(mid)
		_ = s.Source.Run(ctx, from, mid)
	}()
	for b := range mid {
		select {
		case out <- b:
		case <-ctx.Done():
			return nil
		}
		select {
		case s.trigger <- struct{}{}:
		default:
		}
	}
	return nil
}

func sameSet(a, b []string) bool {
	set := func(x []string) map[string]bool {
		m := map[string]bool{}
		for _, s := range x {
			m[s] = true
		}
		return m
	}
	sa, sb := set(a), set(b)
	if len(sa) != len(sb) {
		return false
	}
	for k := range sa {
		if !sb[k] {
			return false
		}
	}
	return true
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// laneSource hands over batches that move two lanes on, asking for a
// checkpoint after each, and records what the runtime says is durable.
type laneSource struct {
	trigger chan struct{}
	mu      sync.Mutex
	durable []source.Positions
}

func (s *laneSource) Name() string             { return "lanes" }
func (s *laneSource) Streams() []string        { return []string{"auth"} }
func (s *laneSource) Counts() *source.Counters { return &source.Counters{} }
func (s *laneSource) Committed(p source.Positions) {
	s.mu.Lock()
	s.durable = append(s.durable, p)
	s.mu.Unlock()
}

func (s *laneSource) Run(ctx context.Context, _ source.Positions, out chan<- source.Batch) error {
	pushed := make(chan struct{}, 1)
	for i := range 10 {
		b := source.Batch{Source: s.Name(), Lanes: source.Positions{fmt.Sprintf("t/%d", i%2): {byte(i)}},
			Pushed: func() { pushed <- struct{}{} }}
		select {
		case out <- b:
		case <-ctx.Done():
			return nil
		}
		// The checkpoint is asked for once the batch is in, so that it
		// covers the batch's positions.
		select {
		case <-pushed:
		case <-ctx.Done():
			return nil
		}
		select {
		case s.trigger <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
	}
	<-ctx.Done()
	return nil
}

// TestCommittedOnlyDurable: a source hears of exactly the positions of
// the checkpoints that were committed, and of none that failed.
func TestCommittedOnlyDurable(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var left atomic.Int64
	left.Store(3)
	dirStore := &state.Dir{Path: t.TempDir()}
	trigger := make(chan struct{})
	src := &laneSource{trigger: trigger}
	rt, err := New(Config{Mode: Service, Rules: compile(t), Sources: []source.Source{src}, Sink: &memSink{}, Store: crashingStore{dirStore, &left, cancel}, Checkpoints: trigger})
	if err != nil {
		t.Fatal(err)
	}
	res, err := rt.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Checkpoints != 3 || len(src.durable) != 3 {
		t.Fatalf("%d checkpoints committed, the source heard of %d", res.Checkpoints, len(src.durable))
	}
	snap, err := dirStore.Latest(context.Background())
	if err != nil || snap == nil {
		t.Fatalf("latest checkpoint: %v", err)
	}
	defer func() { _ = snap.Close() }()
	var inStore source.Positions
	for _, p := range snap.Meta().Positions {
		if inStore, err = source.DecodePositions(p.Data); err != nil {
			t.Fatal(err)
		}
	}
	last := src.durable[len(src.durable)-1]
	if len(last) != len(inStore) || len(last) == 0 {
		t.Fatalf("the last durable positions %v differ from the newest checkpoint's %v", last, inStore)
	}
	for lane, p := range inStore {
		if string(last[lane]) != string(p) {
			t.Fatalf("lane %s: told %v, checkpoint holds %v", lane, last[lane], p)
		}
	}
}
