package siem

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cep-project/cep/alert"
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
