package window

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/wire"
)

const sec = int64(time.Second)

// fieldsOf gives a test event the fields that restoring it from a snapshot
// gives it.
func fieldsOf(raw []byte) ([]event.Field, error) { return wire.Fields(raw) }

// step is one input of a scripted run: an event (key, at, args), or an
// Advance when key is empty.
type step struct {
	key  string
	at   int64 // seconds
	args []Arg
}

func ev(key string, at int64, args ...Arg) step { return step{key: key, at: at, args: args} }
func wm(at int64) step                          { return step{at: at} }

// run feeds the steps and returns one line per output: "add" lines with the
// Current of sliding and length windows (and the Fire outcome of having),
// "late"/"dropped" lines for events not applied, and "emit"/"top" lines
// from Advance.
func run(tb testing.TB, a *Aggregator, having func([]float64) bool, steps []step) []string {
	tb.Helper()
	var out []string
	emit := func(r *Result) { out = append(out, "emit "+format(r)) }
	report := func(r *Report) {
		var ks []string
		for _, x := range r.Results {
			ks = append(ks, fmt.Sprintf("%s=%s", x.Key, num(x.Values[a.top])))
		}
		out = append(out, fmt.Sprintf("top [%d,%d) %s", r.Start/sec, r.End/sec, strings.Join(ks, " ")))
	}
	for i, s := range steps {
		if s.key == "" {
			a.Advance(s.at*sec, emit, report)
			continue
		}
		e := &event.Event{Stream: "s", ID: fmt.Sprintf("e%d", i), Time: s.at * sec, Seq: uint64(i + 1)}
		cur, st := a.Add(s.key, s.at*sec, fill(a, s.args), e)
		if st != Applied {
			out = append(out, fmt.Sprintf("%s %s@%d", st, s.key, s.at))
		}
		if cur != nil {
			line := fmt.Sprintf("add %s (%d,%d] n=%d %s", cur.Key, cur.Start/sec, cur.End/sec, cur.Count, nums(cur.Values))
			if having != nil && cur.Fire(having(cur.Values)) {
				line += " FIRE" + evidenceIDs(cur.Result())
			}
			out = append(out, line)
		}
	}
	return out
}

func format(r *Result) string {
	s := fmt.Sprintf("%s [%d,%d) n=%d %s%s", r.Key, r.Start/sec, r.End/sec, r.Count, nums(r.Values), evidenceIDs(r))
	if r.Revision > 0 {
		var ps []string
		for _, p := range r.Corrects {
			ps = append(ps, fmt.Sprintf("[%d,%d)r%d", p.Start/sec, p.End/sec, p.Revision))
		}
		s += fmt.Sprintf(" rev=%d corrects=%s", r.Revision, strings.Join(ps, ","))
	}
	return s
}

func evidenceIDs(r *Result) string {
	var ids []string
	for _, e := range r.Evidence {
		ids = append(ids, e.ID)
	}
	return " ev=" + strings.Join(ids, ",")
}

func nums(vs []float64) string {
	var s []string
	for _, v := range vs {
		s = append(s, num(v))
	}
	return "[" + strings.Join(s, " ") + "]"
}

func num(v float64) string {
	if math.IsNaN(v) {
		return "NaN"
	}
	return fmt.Sprintf("%.4g", v)
}

func mustNew(tb testing.TB, cfg Config) *Aggregator {
	tb.Helper()
	a, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return a
}

func countOnly() []Measure { return []Measure{{Name: "n", Func: Count}} }

func diffLines(tb testing.TB, got, want []string) {
	tb.Helper()
	if strings.Join(got, "\n") == strings.Join(want, "\n") {
		return
	}
	tb.Errorf("got:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
}

// fill puts an empty argument in the place of each count measure, so that
// scripts list only the arguments that mean something.
func fill(a *Aggregator, args []Arg) []Arg {
	full := make([]Arg, 0, len(a.plan.measures))
	for _, m := range a.plan.measures {
		if m.Func == Count {
			full = append(full, Arg{})
			continue
		}
		full = append(full, args[0])
		args = args[1:]
	}
	return full
}

// checkBytes holds the aggregator's memory estimate, kept up to date as
// keys change, to a count from scratch.
func checkBytes(tb testing.TB, a *Aggregator) {
	tb.Helper()
	var sum int64
	for key, ks := range a.keys {
		want := ks.mem(a) + keyMapBytes + int64(len(key))
		if got := *ks.held(); got != want {
			tb.Fatalf("key %q accounted at %d bytes, holds %d", key, got, want)
		}
		sum += want
	}
	if a.bytes != sum {
		tb.Fatalf("aggregator accounts %d bytes, its keys %d", a.bytes, sum)
	}
}
