package runtime

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/source"
)

// slowSink takes a while over each alert, on the engine's goroutine.
type slowSink struct {
	memSink
	per time.Duration
}

func (s *slowSink) Send(ctx context.Context, a *alert.Alert) error {
	time.Sleep(s.per)
	return s.memSink.Send(ctx, a)
}

// The engine's busy time counts what its goroutine spends on events,
// alerts handed to the sink included, and never more than the run took,
// in each of the loops that drive the engine.
func TestEngineBusy(t *testing.T) {
	dir := t.TempDir()
	writeStreams(t, dir, 600)
	for _, tc := range []struct {
		name string
		mode Mode
		sort bool
	}{
		{"replay", Replay, false},
		{"sorted replay", Replay, true},
		{"service", Service, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := &slowSink{per: time.Millisecond}
			var srcs []source.Source
			for _, st := range []string{"account", "auth", "payments"} {
				srcs = append(srcs, &source.File{Spec: source.Spec{Name: st, Stream: st}, Path: filepath.Join(dir, st+".jsonl")})
			}
			rt, err := New(Config{Mode: tc.mode, Rules: compile(t), Sources: srcs, Sink: sink, Sort: tc.sort, SpillDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			res, err := rt.Run(context.Background())
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			n := len(sink.ids())
			if n < 20 {
				t.Fatalf("only %d alerts: the test needs more", n)
			}
			if least := time.Duration(n) * sink.per; res.EngineBusy < least {
				t.Errorf("engine busy %v for %d alerts that took %v each to send: want at least %v", res.EngineBusy, n, sink.per, least)
			}
			if res.EngineBusy > took {
				t.Errorf("engine busy %v in a run of %v", res.EngineBusy, took)
			}
			switch st := rt.Stats(); {
			case st == nil:
				t.Error("no statistics published")
			case st.EngineBusy != res.EngineBusy:
				t.Errorf("published statistics give the engine busy for %v, the result %v", st.EngineBusy, res.EngineBusy)
			}
		})
	}
}
