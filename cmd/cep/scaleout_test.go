package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules"
)

var planRules = []string{
	`id: f.big
title: Big payment
streams: [payments]
match: event.amount > 100.0
`,
	`id: f.dedup
title: Big payment, once a user an hour
streams: [payments]
by: [event.user]
match: event.amount > 100.0
alert: {dedup: 1h}
`,
	`id: s.fail-pay
title: Failed login then payment
by: [event.user]
sequence:
  within: 10m
  steps:
    - {name: fail, stream: auth, where: event.outcome == "failure"}
    - {name: pay, stream: payments, where: event.amount > 0.0}
`,
	`id: w.card
title: Card spend
streams: [payments]
by: [event.card]
aggregate:
  window: {type: tumbling, size: 10m}
  measures: {n: count()}
  having: n > 3
`,
	`id: w.account
title: Account changes
streams: [account]
by: [ event.user ]
aggregate:
  window: {type: tumbling, size: 10m}
  measures: {n: count()}
  having: n > 3
`,
}

func compilePlanRules(t *testing.T) []*rules.Rule {
	t.Helper()
	c, err := rules.NewCompiler(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*rules.Rule
	for i, src := range planRules {
		r, errs := c.CompileFile(fmt.Sprintf("r%d.yaml", i), []byte(src))
		if r == nil {
			t.Fatalf("rule %d: %v", i, errs)
		}
		out = append(out, r)
	}
	return out
}

func ids(rs []*rules.Rule) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// TestPlanTask: stateless rules and rules keyed as their topics run on the
// topics; the others, grouped by their keys, read re-keyed copies of the
// streams whose topics are keyed otherwise (or not declared).
func TestPlanTask(t *testing.T) {
	rs := compilePlanRules(t)
	keyedBy := map[string]string{"auth": "event.user", "payments": "event.card"}
	p := planTask(rs, []string{"auth", "payments", "account"}, keyedBy, true, "g")
	if got := ids(p.direct); !slices.Equal(got, []string{"f.big", "w.card"}) {
		t.Errorf("direct rules %v", got)
	}
	var groups []string
	for _, g := range p.keyed {
		groups = append(groups, fmt.Sprintf("%s%v%v", g.name, ids(g.rules), g.streams))
	}
	want := []string{"user[f.dedup][payments]", "user-2[s.fail-pay][auth payments]", "user-3[w.account][account]"}
	if !slices.Equal(groups, want) {
		t.Errorf("key groups %q, want %q", groups, want)
	}
	var topics []string
	for _, rp := range p.repartitions {
		topics = append(topics, rp.topic)
	}
	if want := []string{"g.repartition.user.payments", "g.repartition.user.account"}; !slices.Equal(topics, want) {
		t.Errorf("repartition topics %q, want %q", topics, want)
	}
	if rp := p.findFor(p.keyed[1], "auth"); rp != nil {
		t.Errorf("auth is keyed by user: read from its topic, not %s", rp.topic)
	}
	if rp := p.findFor(p.keyed[1], "payments"); rp == nil || rp.topic != "g.repartition.user.payments" {
		t.Errorf("payments of the sequence come from %v", rp)
	}

	off := planTask(rs, []string{"auth", "payments", "account"}, keyedBy, false, "g")
	if len(off.direct) != len(rs) || len(off.keyed) != 0 || len(off.repartitions) != 0 {
		t.Errorf("repartition off: %d direct, %d keyed, %d topics", len(off.direct), len(off.keyed), len(off.repartitions))
	}
}

func TestKeyName(t *testing.T) {
	for _, tt := range []struct{ key, want string }{
		{"event.user", "user"},
		{"event.card_id,event.merchant", "card_id+merchant"},
		{"event.geo.country", "geo.country"},
		{"", "all"},
		{"lower(event.user)", "k" + "e9b3c1b0"},
	} {
		got := keyName(tt.key)
		if tt.want[0] == 'k' && len(tt.want) == 9 {
			if len(got) != 9 || got[0] != 'k' {
				t.Errorf("keyName(%q) = %q, want a hashed name", tt.key, got)
			}
			continue
		}
		if got != tt.want {
			t.Errorf("keyName(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func TestKeyFunc(t *testing.T) {
	rs := compilePlanRules(t)
	one := keyFunc(rs[1].KeyPrograms("payments"))
	dec := event.Decoder{}
	ev, err := dec.Decode([]byte(`{"id":"e1","ts":"2026-11-01T00:00:00Z","user":"u-7","amount":5}`))
	if err != nil {
		t.Fatal(err)
	}
	if k, ok := one(ev); !ok || string(k) != "u-7" {
		t.Errorf("key %q %v, want u-7: a string key is its text, as producers write it", k, ok)
	}
	ev2, err := dec.Decode([]byte(`{"id":"e2","ts":"2026-11-01T00:00:00Z","amount":5}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := one(ev2); ok {
		t.Error("an event without the key's field has no key")
	}
}

// TestScaleOutConfigErrors: what scale_out needs is checked when the file
// loads, each error saying what and where.
func TestScaleOutConfigErrors(t *testing.T) {
	const good = `rules: [rules]
scale_out: {group: g}
state: {redis: {addr: "127.0.0.1:6379"}}
sources:
  - {type: kafka, brokers: ["127.0.0.1:9092"], topic: auth, keyed_by: [event.user]}
`
	for _, tt := range []struct {
		name, cfg, want string
	}{
		{"good", good, ""},
		{"no group", strings.Replace(good, "{group: g}", "{session_timeout: 10s}", 1), "group"},
		{"no redis", strings.Replace(good, `state: {redis: {addr: "127.0.0.1:6379"}}`, "state: {dir: state}", 1), "needs state.redis"},
		{"a file source", good + "  - {type: file, path: x.jsonl}\n", "sources[1] is of type file"},
		{"another group", strings.Replace(good, "topic: auth,", "topic: auth, group: other,", 1), `sources[0].group is "other"`},
		{"stop_at_end", strings.Replace(good, "topic: auth,", "topic: auth, stop_at_end: true,", 1), "sources[0].stop_at_end"},
		{"other brokers", good + `  - {type: kafka, brokers: ["10.0.0.1:9092"], topic: pay}` + "\n", "sources[1].brokers differ"},
		{"admin", good + "admin: {listen: 127.0.0.1:0}\n", "ingest and admin are not available"},
		{"keyed_by on a file", "rules: [rules]\nsources: [{type: file, path: x.jsonl, keyed_by: [event.user]}]\n", "keyed_by"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cep.yaml")
			if err := os.WriteFile(path, []byte(tt.cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := loadConfig(path)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("loadConfig: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("loadConfig = %v, want an error with %q", err, tt.want)
			}
		})
	}
}
