package runtime

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/source"
	"github.com/cep-project/cep/state"
)

// chanSource hands over the batches a test sends it.
type chanSource struct {
	name    string
	streams []string
	in      chan []*event.Event
	counts  source.Counters
}

func (s *chanSource) Name() string             { return s.name }
func (s *chanSource) Streams() []string        { return s.streams }
func (s *chanSource) Counts() *source.Counters { return &s.counts }
func (s *chanSource) Run(ctx context.Context, _ source.Positions, out chan<- source.Batch) error {
	for {
		select {
		case evs, ok := <-s.in:
			if !ok {
				out <- source.Batch{Source: s.name, End: true}
				return nil
			}
			out <- source.Batch{Source: s.name, Events: evs}
		case <-ctx.Done():
			return nil
		}
	}
}

func events(t testing.TB, stream string, lines ...string) []*event.Event {
	t.Helper()
	d := event.Decoder{Stream: stream}
	var out []*event.Event
	for _, l := range lines {
		ev, err := d.Decode([]byte(l))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

const swapSeq = `id: seq
title: Two failures then success
streams: [auth]
by: [event.user]
sequence:
  within: 10m
  steps:
    - {name: fail, where: event.outcome == "failure", times: 2}
    - {name: ok, where: event.outcome == "success"}
`

const swapNew = `id: locked
title: Locked
streams: [auth]
match: event.outcome == "locked"
`

func compileSrc(t testing.TB, srcs ...string) []*rules.Rule {
	t.Helper()
	c, err := rules.NewCompiler(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*rules.Rule
	for i, src := range srcs {
		r, errs := c.CompileFile(fmt.Sprintf("s%d.yaml", i), []byte(src))
		if r == nil {
			t.Fatalf("rule %d: %v", i, errs)
		}
		out = append(out, r)
	}
	return out
}

// waitEvents waits until the loop has taken n events.
func waitEvents(t *testing.T, ctl *Control, n uint64) {
	t.Helper()
	for range 2000 {
		var got uint64
		if err := ctl.Inspect(context.Background(), func(e *correlate.Engine) { got = e.Stats().Events }); err != nil {
			t.Fatal(err)
		}
		if got >= n {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("the loop never took %d events", n)
}

// TestReloadWhileRunning swaps the rules of a running service between the
// start of a sequence and its end: the sequence completes, the added rule
// fires, a checkpoint is taken at once, and a reload that does not load
// leaves the rules running.
func TestReloadWhileRunning(t *testing.T) {
	src := &chanSource{name: "auth", streams: []string{"auth"}, in: make(chan []*event.Event)}
	sink := &memSink{}
	ctl := NewControl()
	store := &state.Dir{Path: t.TempDir()}
	rt, err := New(Config{Mode: Service, Rules: compileSrc(t, swapSeq), Engine: correlate.Config{MaxFuture: -1}, Sources: []source.Source{src}, Sink: sink, Store: store, Control: ctl, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan *Result)
	go func() {
		res, err := rt.Run(context.Background())
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	src.in <- events(t, "auth", `{"id":"f1","ts":1,"user":"u","outcome":"failure"}`, `{"id":"f2","ts":2,"user":"u","outcome":"failure"}`)
	waitEvents(t, ctl, 2)

	var loads atomic.Int64
	next := []*rules.Rule(nil)
	var failWith error
	rl := &Reloader{Control: ctl, Load: func(context.Context, bool) (*RuleSet, error) {
		loads.Add(1)
		if failWith != nil {
			return nil, failWith
		}
		return &RuleSet{Rules: next, Revision: "r2"}, nil
	}}
	var swapped []string
	rl.Swapped = func(s *RuleSet) { swapped = append(swapped, s.Revision) }
	rl.Started(&RuleSet{Revision: "r1"})

	failWith = errors.Join(errors.New("rules/x.yaml:3:7: undeclared reference to 'evnt'"), errors.New("rules/y.yaml:1:1: a rule needs exactly one of match, sequence, aggregate or join"))
	st, err := rl.Reload(context.Background(), "api")
	if err == nil || st.OK || len(st.Errors) != 2 || !strings.HasPrefix(st.Errors[0], "rules/x.yaml:3:7:") || st.Revision != "r1" {
		t.Fatalf("a failing load: status %+v, error %v", st, err)
	}

	failWith = nil
	next = compileSrc(t, swapSeq, swapNew)
	st, err = rl.Reload(context.Background(), "api")
	if err != nil {
		t.Fatal(err)
	}
	if !st.OK || st.Revision != "r2" || len(st.Errors) != 0 || st.Outcomes[ReloadOK] != 1 || st.Outcomes[ReloadFailed] != 1 {
		t.Fatalf("status after a good reload: %+v", st)
	}
	if got := reportText(st.Report); got != "same=[seq] added=[locked]" {
		t.Errorf("report %s", got)
	}
	// Only the set the loop runs is reported swapped in.
	if strings.Join(swapped, ",") != "r2" {
		t.Errorf("swapped %v, want the good reload's set only", swapped)
	}
	src.in <- events(t, "auth", `{"id":"s1","ts":3,"user":"u","outcome":"success"}`, `{"id":"l1","ts":4,"user":"v","outcome":"locked"}`)
	close(src.in)
	res := <-done
	var got []string
	for _, a := range sink.alerts {
		got = append(got, a.Rule)
	}
	if strings.Join(got, ",") != "seq,locked" {
		t.Errorf("alerts %v; want the sequence started before the reload and the new rule", got)
	}
	// One checkpoint after the reload, one at the stop.
	if res.Checkpoints != 2 {
		t.Errorf("%d checkpoints, want 2 (the reload's and the stop's)", res.Checkpoints)
	}
	if s := rt.Stats(); len(s.Rules) != 2 || s.RuleStats["locked"].Alerts != 1 {
		t.Errorf("published statistics: %d rules, %+v", len(s.Rules), s.RuleStats)
	}
}

func reportText(r *correlate.ReloadReport) string {
	if r == nil {
		return "<nil>"
	}
	return fmt.Sprintf("same=%v added=%v", r.Same, r.Added)
}

func TestControlWithoutLoop(t *testing.T) {
	var c *Control
	if _, err := c.Swap(context.Background(), nil); !errors.Is(err, ErrNotRunning) {
		t.Errorf("nil control: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := NewControl().Inspect(ctx, func(*correlate.Engine) {}); err == nil {
		t.Error("a control no loop serves took a request")
	}
}
