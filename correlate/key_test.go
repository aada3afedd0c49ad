package correlate

import (
	"testing"

	"github.com/cep-project/cep/alert"
)

// TestEncodedKeyMatchesEncodeKey: the direct encoding of a key of plain
// fields gives the bytes encodeKey gives for the evaluated values (keys
// are stored in checkpoints and decoded into alert keys), and a missing or
// computed key takes the evaluated path with its counts.
func TestEncodedKeyMatchesEncodeKey(t *testing.T) {
	rs := compileRules(t,
		"id: paths\ntitle: t\nby: [event.user, event.n, event.ok]\nmatch: \"true\"\n",
		"id: computed\ntitle: t\nby: [event.user, event.n * 2.0]\nmatch: \"true\"\n",
		"id: nested\ntitle: t\nby: [event.geo.country]\nmatch: \"true\"\n",
		"id: nokey\ntitle: t\nmatch: \"true\"\n",
	)
	e, err := New(rs, Config{}, func(*alert.Alert) {})
	if err != nil {
		t.Fatal(err)
	}
	members := []string{
		`"user":"u1","n":3,"ok":true,"geo":{"country":"FR"}`,
		`"user":"a \"quoted\"\n\u0001 ü","n":-0.5e-7,"ok":false,"geo":{"country":["x"]}`,
		`"user":"u1","n":12345678901234567890,"ok":null,"geo":{}`,
		`"user":{"obj":1},"n":"7","ok":1`,
		`"n":1`,
	}
	for _, r := range rs {
		for i, m := range members {
			ev := ev(t, "s", "e", i, m)
			var buf []byte
			m0, e0 := e.stats.KeyMissing, e.stats.KeyErrors
			got, ok := e.encodedKey(r, ev, buf)
			m1, e1 := e.stats.KeyMissing, e.stats.KeyErrors
			vals, wantOK := e.partitionKey(r, ev, r.KeyOf)
			m2, e2 := e.stats.KeyMissing, e.stats.KeyErrors
			if ok != wantOK {
				t.Errorf("%s %s: ok %v, want %v", r.ID, m, ok, wantOK)
				continue
			}
			if m1-m0 != m2-m1 || e1-e0 != e2-e1 {
				t.Errorf("%s %s: counted %d missing and %d errors, want %d and %d", r.ID, m, m1-m0, e1-e0, m2-m1, e2-e1)
			}
			if !wantOK {
				continue
			}
			if want := encodeKey(nil, vals); string(got) != string(want) {
				t.Errorf("%s %s: %s, want %s", r.ID, m, got, want)
			}
		}
	}
}
