package siem

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/sinks/siem/format"
	"github.com/cep-project/cep/sinks/siem/sinktest"
)

func TestMasking(t *testing.T) {
	keep2 := 2
	m := newMasker([]MaskRule{
		{Field: "card"},
		{Field: "email", Action: MaskHash},
		{Field: "token", Action: MaskRedact},
		{Field: "pin", Keep: &keep2},
	}, "k")
	a := &alert.Alert{
		ID: "x", Key: alert.Key{{Expr: "event.card", Value: "4111111111111111"}},
		Fields: map[string]any{"card": "4111111111111111", "nested": map[string]any{"email": "a@b.c", "list": []any{map[string]any{"token": "t"}}}, "pin": 1234.0, "keep": "v"},
		Events: []alert.Evidence{{Step: "s", Event: sinktest.MustEvent(t, "p", `{"ts":1,"card":"5500000000000004","user":{"email":"a@b.c","tags":[{"token":"abc"}]},"n":1}`)}},
	}
	orig, _ := json.Marshal(a)
	got, err := m.apply(a)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := json.Marshal(a)
	if string(orig) != string(after) {
		t.Fatal("masking changed the shared alert")
	}
	out, err := format.AppendJSON(nil, got)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, leak := range []string{"4111111111111111", "5500000000000004", "a@b.c", `"abc"`, `"t"`, "1234"} {
		if strings.Contains(s, leak) {
			t.Errorf("%s not masked in %s", leak, s)
		}
	}
	hash := m.maskText(MaskRule{Action: MaskHash}, "a@b.c")
	for _, want := range []string{`"************1111"`, `"************0004"`, hash, `"[REDACTED]"`, `"pin":"**34"`, `"keep":"v"`, `"n":1`} {
		if !strings.Contains(s, want) {
			t.Errorf("%s missing in %s", want, s)
		}
	}
	if newMasker(nil, "") != nil {
		t.Fatal("an empty mask list should cost nothing")
	}
}

func TestMaskText(t *testing.T) {
	m := &masker{key: []byte("k")}
	zero := 0
	tests := []struct {
		rule MaskRule
		in   string
		want string
	}{
		{MaskRule{}, "4111111111111111", "************1111"},
		{MaskRule{}, "abc", "***"},
		{MaskRule{Keep: &zero}, "ab", "**"},
		{MaskRule{}, "ünïcödé", "***cödé"},
		{MaskRule{Action: MaskRedact}, "x", "[REDACTED]"},
	}
	for _, tc := range tests {
		if got := m.maskText(tc.rule, tc.in); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.in, got, tc.want)
		}
	}
	h1, h2 := m.maskText(MaskRule{Action: MaskHash}, "a"), (&masker{key: []byte("other")}).maskText(MaskRule{Action: MaskHash}, "a")
	if h1 == h2 || !strings.HasPrefix(h1, "hmac-sha256:") {
		t.Errorf("hashes %q %q", h1, h2)
	}
}

// An event decoded with a projection holds in Fields only what rules
// read; its Raw, which formats copy, holds everything, and everything in
// it is masked: a card number no rule reads must not leak.
func TestMaskingProjectedEvidence(t *testing.T) {
	m := newMasker([]MaskRule{{Field: "card"}, {Field: "user.email", Action: MaskRedact}}, "")
	line := `{"ts":1,"id":"e1","card":"4111111111111111","user":{"email":"a@b.c","name":"n"},"amount":5}`
	for _, proj := range [][][]string{{{"amount"}}, {{"user", "name"}}, {{"card"}}, {}} {
		d := event.Decoder{Stream: "p", Project: event.NewProjection(proj)}
		ev, err := d.Decode([]byte(line))
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.apply(&alert.Alert{ID: "x", Events: []alert.Evidence{{Step: "s", Event: ev}}})
		if err != nil {
			t.Fatal(err)
		}
		out, err := format.AppendJSON(nil, got)
		if err != nil {
			t.Fatal(err)
		}
		for _, leak := range []string{"41111111", "a@b.c"} {
			if strings.Contains(string(out), leak) {
				t.Errorf("projection %v: %s not masked in %s", proj, leak, out)
			}
		}
		for _, want := range []string{`"amount":5`, `"name":"n"`, `"************1111"`} {
			if !strings.Contains(string(out), want) {
				t.Errorf("projection %v: %s missing in %s", proj, want, out)
			}
		}
	}
}

// Field names match case-insensitively and by path, in fields, evidence
// and keys — whatever the key expression's form.
func TestMaskingPathsCaseAndKeys(t *testing.T) {
	m := newMasker([]MaskRule{{Field: "card", Action: MaskRedact}, {Field: "user.email", Action: MaskRedact}}, "")
	a := &alert.Alert{
		ID: "x",
		Key: alert.Key{
			{Expr: "string(event.Card)", Value: "4111111111111111"},
			{Expr: `event["CARD"]`, Value: "4222222222222222"},
			{Expr: "event.user['email']", Value: "a@b.c"},
			{Expr: "event.card_id", Value: "kept-1"},
			{Expr: "event.geo", Value: map[string]any{"Card": "4333333333333333", "email": "kept-2"}},
		},
		Fields: map[string]any{"CARD": "4444444444444444", "User": map[string]any{"Email": "a@b.c", "name": "kept-3"}, "email": "kept-4"},
		Events: []alert.Evidence{{Step: "s", Event: sinktest.MustEvent(t, "p", `{"ts":1,"Card":"4555555555555555","user":{"EMAIL":"a@b.c"},"list":[{"card":"4666666666666666"}],"email":"kept-5"}`)}},
	}
	got, err := m.apply(a)
	if err != nil {
		t.Fatal(err)
	}
	out, err := format.AppendJSON(nil, got)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"41111", "42222", "43333", "44444", "45555", "46666", "a@b.c"} {
		if strings.Contains(string(out), leak) {
			t.Errorf("%s not masked in %s", leak, out)
		}
	}
	for i := 1; i <= 5; i++ {
		if want := fmt.Sprintf("kept-%d", i); !strings.Contains(string(out), want) {
			t.Errorf("%s masked, but no rule names it: %s", want, out)
		}
	}
}

func TestExprPaths(t *testing.T) {
	for expr, want := range map[string]string{
		"event.card":              "event.card",
		"string(event.card)":      "string event.card",
		`event["card"]`:           "event.card",
		`event.user['e.mail']`:    "event.user.e.mail",
		"a.b + c.d[\"e\"]":        "a.b c.d.e",
		"size(x) > 3 && y.z":      "size x y.z",
		`event["unterminated`:     "event",
		"event.card_id == 'card'": "event.card_id",
	} {
		var got []string
		for _, p := range exprPaths(expr) {
			got = append(got, strings.Join(p, "."))
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%s: %q, want %q", expr, strings.Join(got, " "), want)
		}
	}
}

// The record key — written to the spool and used as the Kafka message
// key — is built from the masked alert: no masked value reaches the spool
// directory in any form.
func TestMaskedValuesNeverReachTheSpool(t *testing.T) {
	dest := &sinktest.Memory{}
	dest.Down.Store(true)
	c := memConfig("m", dest)
	c.Spool.Dir = t.TempDir()
	c.Mask = []MaskRule{{Field: "card"}}
	s := startSink(t, c, quietOptions())
	a := sinktest.Numbered(1)[0]
	a.Key = alert.Key{{Expr: "event.card", Value: "4111111111111111"}}
	a.Fields["Card"] = "4111111111111111"
	r, err := s.enc.record(a)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.Key, "4111111111111111") || !strings.Contains(r.Key, "************1111") {
		t.Fatalf("record key %q", r.Key)
	}
	sendAll(t, s, []*alert.Alert{a})
	sinktest.Eventually(t, 5*time.Second, "spooled", func() bool { return s.snd.health().SpoolRecords == 1 })
	stopSink(t, s)
	assertNotInDir(t, c.Spool.Dir, "4111111111111111")
}

// assertNotInDir fails if any file under dir holds text.
func assertNotInDir(tb testing.TB, dir, text string) {
	tb.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(text)) {
			tb.Errorf("%s holds %s", p, text)
		}
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
}
