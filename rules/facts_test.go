package rules

import (
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cep-project/cep/facts"
	"github.com/cep-project/cep/rules/celenv"
)

// TestFactFunctions: seen, fact and context over a memory store, judged
// at the event's time.
func TestFactFunctions(t *testing.T) {
	c, err := NewCompiler(Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := facts.NewMemory()
	c.SetFacts(m)
	t0 := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC).UnixNano()
	m.Remember(facts.Write{Kind: facts.Set, Name: "known_devices", Key: "alice", Value: "d1", At: t0, TTL: 90 * 24 * time.Hour})
	m.Remember(facts.Write{Kind: facts.Set, Name: "known_amounts", Key: "42", Value: "12.5", At: t0, TTL: time.Hour})
	m.Remember(facts.Write{Kind: facts.Hash, Name: "card_last_country", Key: "c1", Value: "FR", At: t0, TTL: 30 * 24 * time.Hour})
	m.SetContext("customer_risk", "alice", map[string]string{"tier": "high"})
	ev := func(ts string) string {
		return `{"ts":"` + ts + `","user":"alice","device":"d1","other":"d2","card":"c1","country":"BR","n":42,"amount":12.5,"nothing":null}`
	}
	tests := []struct {
		expr, ts string
		want     any
	}{
		{`seen("known_devices", event.user, event.device)`, "2026-03-02T09:00:00Z", true},
		{`seen("known_devices", event.user, event.other)`, "2026-03-02T09:00:00Z", false},
		{`seen("known_devices", "bob", event.device)`, "2026-03-02T09:00:00Z", false},
		{`!seen("known_devices", event.user, event.device)`, "2026-05-31T08:00:00Z", true}, // 90 days later
		{`seen("known_devices", event.user, event.device)`, "2026-05-31T07:59:59Z", true},
		{`seen("known_devices", event.user, event.device)`, "2026-03-02T07:00:00Z", true}, // before the write: expiry only
		{`seen("known_amounts", event.n, event.amount)`, "2026-03-02T08:30:00Z", true},    // numbers in their JSON form
		{`seen("known_devices", event.nothing, event.device)`, "2026-03-02T09:00:00Z", false},
		{`fact("card_last_country", event.card)`, "2026-03-10T00:00:00Z", "FR"},
		{`fact("card_last_country", event.card).orValue("") != event.country`, "2026-03-10T00:00:00Z", true},
		{`fact("card_last_country", event.card).hasValue()`, "2026-04-02T00:00:00Z", false},
		{`fact("card_last_country", "c2").orValue("none")`, "2026-03-10T00:00:00Z", "none"},
		{`fact("card_last_country", event.nothing).hasValue()`, "2026-03-10T00:00:00Z", false},
		{`context("customer_risk", event.user).orValue({}).tier`, "2026-03-10T00:00:00Z", "high"},
		{`context("customer_risk", "bob").hasValue()`, "2026-03-10T00:00:00Z", false},
		{`context("customer_risk", event.user).?tier.orValue("low") == "high"`, "2026-03-10T00:00:00Z", true},
	}
	for _, tt := range tests {
		t.Run(tt.expr+"@"+tt.ts, func(t *testing.T) {
			p, errs := compileOne(t, c, tt.expr, nil)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			v, err := p.Eval(EventActivation{Ev: decode(t, ev(tt.ts))})
			if err != nil {
				t.Fatal(err)
			}
			if got := celenv.Native(v); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestFactFunctionErrors(t *testing.T) {
	c, err := NewCompiler(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ expr, want string }{
		{`seen(event.name, event.user, event.device)`, "seen: the name must be a string literal"},
		{`seen("known_devices", event.user)`, "found no matching overload for 'seen'"},
		{`fact("x", event.user) == "FR"`, "found no matching overload for '_==_'"},
	} {
		_, errs := compileOne(t, c, tt.expr, nil)
		if len(errs) == 0 || !strings.Contains(errs[0].Error(), tt.want) {
			t.Errorf("%s: errors %v, want %q", tt.expr, errs, tt.want)
		}
	}
}

// TestRememberCompiles: remember's key and value see what alert fields
// see, and its writes carry the alert time and the ttl.
func TestRememberCompiles(t *testing.T) {
	c, err := NewCompiler(Options{})
	if err != nil {
		t.Fatal(err)
	}
	src := `id: t.remember
title: remember
streams: [auth]
sequence:
  within: 1h
  steps:
    - name: login
      where: event.type == "login"
    - name: pay
      where: event.type == "pay"
remember:
  - {set: known_devices, key: login.user, value: login.device, ttl: 90d}
  - {hash: last_amount, key: login.user, value: pay.amount, ttl: 1h}
  - {hash: broken, key: login.nothing, value: pay.amount, ttl: 1h}
`
	r, errs := c.CompileFile("r.yaml", []byte(src))
	if r == nil {
		t.Fatal(errs)
	}
	var act Activation
	login := decode(t, `{"ts":"2026-03-02T08:00:00Z","type":"login","user":"u1","device":"d1"}`)
	pay := decode(t, `{"ts":"2026-03-02T08:10:00Z","type":"pay","amount":12.5}`)
	act.Bind("login", celenv.EventValue(login))
	act.Bind("pay", celenv.EventValue(pay))
	ws := r.FactWrites(&act, pay.Time, nil)
	want := []facts.Write{
		{Kind: facts.Set, Name: "known_devices", Key: "u1", Value: "d1", At: pay.Time, TTL: 90 * 24 * time.Hour},
		{Kind: facts.Hash, Name: "last_amount", Key: "u1", Value: "12.5", At: pay.Time, TTL: time.Hour},
	}
	if !reflect.DeepEqual(ws, want) {
		t.Errorf("writes %+v, want %+v", ws, want)
	}
	if r.Health.Errors() != 0 {
		t.Errorf("a missing key field counted as an error: %s", r.Health.LastError())
	}
	// remember's expressions are in the rule's reads, for projection.
	if !r.Reads().Whole && len(r.Reads().Paths) == 0 {
		t.Error("remember's fields are not among the rule's reads")
	}
}

// BenchmarkSeenCEL: a condition calling seen, evaluated by CEL over a
// memory store (the cost of the function call and its argument
// conversions, beside the store's lookup).
func BenchmarkSeenCEL(b *testing.B) {
	c, err := NewCompiler(Options{})
	if err != nil {
		b.Fatal(err)
	}
	m := facts.NewMemory()
	c.SetFacts(m)
	ev := decode(b, `{"ts":"2026-03-02T09:00:00Z","user":"alice","device":"d1"}`)
	m.Remember(facts.Write{Kind: facts.Set, Name: "known_devices", Key: "alice", Value: "d1", At: ev.Time - int64(time.Hour), TTL: 90 * 24 * time.Hour})
	p, errs := compileOne(b, c, `!seen("known_devices", event.user, event.device)`, nil)
	if len(errs) > 0 {
		b.Fatal(errs)
	}
	act := EventActivation{Ev: ev}
	b.ReportAllocs()
	for b.Loop() {
		if p.Test(act) {
			b.Fatal("a known device is new")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "lookups/s")
}

// TestFactReads: seen and fact take the event only for its time, so a
// rule calling them still decodes only the fields it reads.
func TestFactReads(t *testing.T) {
	c, err := NewCompiler(Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, errs := c.CompileFile("r.yaml", []byte(`id: t.reads
title: reads
match: '!seen("known_devices", event.user, event.device) && fact("last", event.card).hasValue()'
`))
	if r == nil {
		t.Fatal(errs)
	}
	rd := r.Reads()
	if rd.Whole {
		t.Fatal("a rule calling seen reads events whole")
	}
	var got []string
	for _, p := range rd.Paths {
		got = append(got, strings.Join(p, "."))
	}
	sort.Strings(got)
	if want := []string{"card", "device", "user"}; !reflect.DeepEqual(got, want) {
		t.Errorf("reads %v, want %v", got, want)
	}
}

// TestCallsFacts: a condition calling seen, fact or context depends on
// more than the event.
func TestCallsFacts(t *testing.T) {
	c, err := NewCompiler(Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.SetFacts(facts.NewMemory())
	for _, tt := range []struct {
		expr string
		want bool
	}{
		{`event.user == "alice" && event.n > 3.0`, false},
		{`seen("known_devices", event.user, event.device)`, true},
		{`event.n > 3.0 && !seen("known_devices", event.user, event.device)`, true},
		{`fact("card_last_country", event.card).orValue("") != event.country`, true},
		{`context("customer_risk", event.user).hasValue()`, true},
	} {
		p, errs := compileOne(t, c, tt.expr, nil)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		if got := p.CallsFacts(); got != tt.want {
			t.Errorf("%s: CallsFacts %v, want %v", tt.expr, got, tt.want)
		}
	}
	if (*Program)(nil).CallsFacts() {
		t.Error("no condition calls facts")
	}
}
