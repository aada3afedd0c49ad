package scaleout

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/runtime"
	"github.com/cep-project/cep/source"
	"github.com/cep-project/cep/state"
	"github.com/cep-project/cep/state/redistest"
)

// groupRules are keyed by user in both topics, so that every key's events
// meet in one task.
var groupRules = []string{
	`id: seq.fail-then-pay
title: Failed login, then a payment
by: [event.user]
sequence:
  within: 10m
  steps:
    - {name: fail, stream: auth, where: event.outcome == "failure"}
    - {name: pay, stream: payments, where: event.amount > 100.0}
`,
	`id: win.spend
title: Spend over 10 minutes
streams: [payments]
by: [event.user]
aggregate:
  window: {type: tumbling, size: 10m}
  measures:
    total: sum(event.amount)
  having: total > 1500.0
`,
	`id: match.big
title: Big payment
streams: [payments]
by: [event.user]
match: event.amount > 480.0
`,
}

func compileRules(t *testing.T) []*rules.Rule {
	t.Helper()
	c, err := rules.NewCompiler(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*rules.Rule
	for i, src := range groupRules {
		r, errs := c.CompileFile(fmt.Sprintf("r%d.yaml", i), []byte(src))
		if r == nil {
			t.Fatalf("rule %d: %v", i, errs)
		}
		out = append(out, r)
	}
	return out
}

// produce writes n events to auth and payments, keyed by user, one a
// second of event time.
func produce(t *testing.T, c *kfake.Cluster, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var recs []*kgo.Record
	for i := range n {
		user := "u" + strconv.Itoa(i%37)
		ts := base.Add(time.Duration(i) * time.Second).Format(time.RFC3339)
		if i%3 == 0 {
			outcome := "success"
			if i%2 == 0 {
				outcome = "failure"
			}
			recs = append(recs, &kgo.Record{Topic: "auth", Key: []byte(user),
				Value: fmt.Appendf(nil, `{"id":"a%d","ts":%q,"user":%q,"outcome":%q}`, i, ts, user, outcome)})
			continue
		}
		recs = append(recs, &kgo.Record{Topic: "payments", Key: []byte(user),
			Value: fmt.Appendf(nil, `{"id":"p%d","ts":%q,"user":%q,"amount":%d}`, i, ts, user, (i*7919)%500)})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// sink keeps alert ids; it is shared by a process's tasks, as cep's is.
type sink struct {
	mu  sync.Mutex
	ids map[string]int
}

func (s *sink) Send(_ context.Context, a *alert.Alert) error {
	s.mu.Lock()
	s.ids[a.ID]++
	s.mu.Unlock()
	return nil
}
func (s *sink) Mark() uint64                       { return 0 }
func (s *sink) Wait(context.Context, uint64) error { return nil }
func (s *sink) Close(context.Context) error        { return nil }

func (s *sink) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.ids {
		n += c
	}
	return n
}

// process is one member of the group, as cep run --config builds it.
type process struct {
	g      *Group
	sink   *sink
	cancel context.CancelFunc
	done   chan error
}

func startProcess(t *testing.T, c *kfake.Cluster, rdb *state.Redis, rs []*rules.Rule) *process {
	t.Helper()
	p := &process{sink: &sink{ids: map[string]int{}}, done: make(chan error, 1)}
	var tmpl []*source.Kafka
	for _, topic := range []string{"auth", "payments"} {
		tmpl = append(tmpl, &source.Kafka{Spec: source.Spec{Name: topic, Stream: topic}, Brokers: c.ListenAddrs(), Topics: []string{topic},
			Group: "g", IdleTimeout: 500 * time.Millisecond, MaxWait: 100 * time.Millisecond})
	}
	g, err := New(Config{
		Group: "g", Brokers: c.ListenAddrs(), Topics: []string{"auth", "payments"},
		SessionTimeout: 6 * time.Second, RebalanceTimeout: 10 * time.Second,
		Base: runtime.Config{Mode: runtime.Service, Rules: rs, Sink: p.sink, Interval: 200 * time.Millisecond,
			StopTimeout: 5 * time.Second, Log: slog.New(slog.DiscardHandler)},
		Units: func(tk Task, rs []*rules.Rule, cfg runtime.Config) ([]Unit, error) {
			m := tk.Member
			for _, k := range tmpl {
				cfg.Sources = append(cfg.Sources, k.ForTask([]int{tk.ID}, &m))
			}
			st, err := rdb.Scope("t." + strconv.Itoa(tk.ID))
			if err != nil {
				return nil, err
			}
			cfg.Store, cfg.Lease = st, st.NewLease(state.LeaseOptions{TTL: time.Second})
			return []Unit{{Config: cfg}}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	p.g = g
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() {
		_, err := g.Run(ctx)
		p.done <- err
	}()
	return p
}

func (p *process) stop(t *testing.T) {
	t.Helper()
	p.cancel()
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("the group ended with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the group did not stop")
	}
}

// settle waits until the sinks have had no alert for a while.
func settle(t *testing.T, ss ...*sink) {
	t.Helper()
	count := func() int {
		n := 0
		for _, s := range ss {
			n += s.total()
		}
		return n
	}
	deadline := time.Now().Add(time.Minute)
	for last := -1; time.Now().Before(deadline); {
		time.Sleep(2 * time.Second)
		if n := count(); n > 0 && n == last {
			return
		}
		last = count()
	}
	t.Fatal("the alerts did not settle")
}

func waitTasks(t *testing.T, g *Group, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(g.Tasks()) != n {
		if time.Now().After(deadline) {
			t.Fatalf("the process runs tasks %v, want %d of them", g.Tasks(), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestTwoProcessesEqualOne: two members of a group, the second joining
// mid-stream, make the alerts of one member alone, each once, and the
// tasks' statistics and statuses merge.
func TestTwoProcessesEqualOne(t *testing.T) {
	rs := compileRules(t)
	run := func(two bool) map[string]int {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, "auth", "payments"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		produce(t, c, 6000)
		srv := redistest.Start(t)
		rdb, err := state.NewRedis(context.Background(), state.RedisOptions{Addrs: []string{srv.Addr()}})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = rdb.Close() }()
		a := startProcess(t, c, rdb, rs)
		waitTasks(t, a.g, 4)
		sinks := []*sink{a.sink}
		var b *process
		if two {
			b = startProcess(t, c, rdb, rs)
			sinks = append(sinks, b.sink)
			waitTasks(t, b.g, 2)
			waitTasks(t, a.g, 2)
			if st := b.g.Status(); st.Role == "" {
				t.Error("no status")
			}
		}
		settle(t, sinks...)
		if st := a.g.Stats(); st == nil || st.Checkpoints == 0 || st.Engine.Events == 0 {
			t.Errorf("merged statistics: %+v", st)
		}
		if two {
			// A reload restarts the tasks on the new rules from the
			// checkpoints their stop writes: none of them makes an alert
			// again (checked below: every id once).
			started := a.g.Counts().TasksStarted.Load()
			if _, err := a.g.Swap(context.Background(), rs); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for a.g.Counts().TasksStarted.Load() < started+2 || len(a.g.Tasks()) != 2 {
				if time.Now().After(deadline) {
					t.Fatalf("the reload did not restart the tasks: %d started, running %v", a.g.Counts().TasksStarted.Load()-started, a.g.Tasks())
				}
				time.Sleep(50 * time.Millisecond)
			}
			time.Sleep(time.Second)
		}
		a.stop(t)
		if b != nil {
			b.stop(t)
		}
		if n := a.g.Counts().Rebalances.Load(); two && n < 2 {
			t.Errorf("the first process saw %d assignments, want 2", n)
		}
		out := map[string]int{}
		for _, s := range sinks {
			for id, n := range s.ids {
				out[id] += n
			}
		}
		// Every offset is committed to the group.
		cl := &kafka.Client{Addr: kafka.TCP(c.ListenAddrs()...)}
		res, err := cl.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: "g", Topics: map[string][]int{"auth": {0, 1, 2, 3}, "payments": {0, 1, 2, 3}}})
		if err != nil {
			t.Fatal(err)
		}
		var committed int64
		for _, ps := range res.Topics {
			for _, p := range ps {
				committed += p.CommittedOffset
			}
		}
		if committed != 6000 {
			t.Errorf("the group's offsets sum to %d, want 6000", committed)
		}
		return out
	}
	one := run(false)
	if len(one) < 20 {
		t.Fatalf("one process made %d alerts: the test proves little", len(one))
	}
	two := run(true)
	for id, n := range two {
		if n != 1 {
			t.Errorf("alert %s came %d times", id, n)
		}
	}
	if !slices.Equal(slices.Sorted(maps.Keys(two)), slices.Sorted(maps.Keys(one))) {
		t.Errorf("two processes made %d alerts, one made %d", len(two), len(one))
	}
}

// TestStatusWithoutTasks: a member the group gives no partition is idle
// and does not read, so readiness is false.
func TestStatusWithoutTasks(t *testing.T) {
	g, err := New(Config{Group: "g", Brokers: []string{"127.0.0.1:1"}, Topics: []string{"t"}, Base: runtime.Config{Sink: &sink{}},
		Units: func(Task, []*rules.Rule, runtime.Config) ([]Unit, error) { return nil, nil }})
	if err != nil {
		t.Fatal(err)
	}
	if st := g.Status(); st.Role != runtime.RoleStarting || st.Reading {
		t.Errorf("before an assignment: %+v", st)
	}
	g.setRole(runtime.RoleActive)
	if st := g.Status(); st.Role != "idle" || st.Reading || st.Why == "" {
		t.Errorf("with no task: %+v", st)
	}
	g.setRole(RoleRebalancing)
	if st := g.Status(); st.Role != RoleRebalancing || st.Reading {
		t.Errorf("rebalancing: %+v", st)
	}
}
