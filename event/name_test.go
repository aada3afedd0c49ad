package event

import (
	"strings"
	"testing"
	"unsafe"
)

// TestProjectedMembersShareNames: the members a projection names carry
// its copies of their names, escaped or not, at the nested level too, and
// the time and id that the decoder finds by them are right; members it
// reads whole keep names of their own.
func TestProjectedMembersShareNames(t *testing.T) {
	d := Decoder{Stream: "s", Project: NewProjection([][]string{{"user"}, {"geo", "country"}, {"ctx"}})}
	line := `{"id":"e1","ts":"2026-03-02T08:00:00Z","us\u0065r":"u1","geo":{"country":"ES","city":"Madrid"},"ctx":{"ip":"10.0.0.1"},"other":1}`
	ev, err := d.Decode([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if ev.ID != "e1" || ev.Time == 0 {
		t.Fatalf("id %q, time %d", ev.ID, ev.Time)
	}
	same := func(a, b string) bool { return len(a) == len(b) && unsafe.StringData(a) == unsafe.StringData(b) }
	keys := map[string]bool{}
	for _, f := range ev.Fields {
		keys[f.Key] = true
		if !same(f.Key, Name(f.Key)) {
			t.Errorf("member %q does not carry the shared name", f.Key)
		}
		switch f.Key {
		case "geo":
			sub := f.Fields()
			if len(sub) != 1 || sub[0].Key != "country" || !same(sub[0].Key, Name("country")) {
				t.Errorf("geo's members %v: want country, with the shared name", sub)
			}
		case "ctx":
			sub := f.Fields()
			if len(sub) != 1 || sub[0].Key != "ip" || same(sub[0].Key, Name("ip")) {
				t.Errorf("ctx's members %v: want ip, named from the line", sub)
			}
		}
	}
	for _, k := range []string{"id", "ts", "user", "geo", "ctx"} {
		if !keys[k] {
			t.Errorf("no member %q in %v", k, ev.Fields)
		}
	}
	if v, ok := ev.Path(shareNames([]string{"geo", "country"})...); !ok || v.Str() != "ES" {
		t.Errorf("geo.country = %v, %v", v, ok)
	}
	if v, ok := ev.Path("user"); !ok || v.Str() != "u1" {
		t.Errorf("user = %v, %v (by a name of the caller's own)", v, ok)
	}
}

func TestName(t *testing.T) {
	b := []byte("merchant")
	a := Name(string(b))
	b[0] = 'M' // Name keeps a copy, not the caller's bytes
	if a != "merchant" || unsafe.StringData(Name("merchant")) != unsafe.StringData(a) {
		t.Errorf("Name = %q, not the one copy", a)
	}
	if p := shareNames([]string{"geo", "lat"}); p[0] != "geo" || unsafe.StringData(p[1]) != unsafe.StringData(Name("lat")) {
		t.Errorf("shareNames = %q", p)
	}
}

func TestSharedPath(t *testing.T) {
	a := SharedPath([]string{"geo", "country"})
	b := SharedPath(strings.Split("geo.country", "."))
	if &a[0] != &b[0] || unsafe.StringData(a[1]) != unsafe.StringData(Name("country")) {
		t.Fatalf("two asks for geo.country share no copy: %p %p", &a[0], &b[0])
	}
	if cap(a) != len(a) {
		t.Fatalf("capacity %d beyond the length %d: an append would write into the shared copy", cap(a), len(a))
	}
	c := append(a, "x")
	d := append(a, "y")
	if c[2] != "x" || len(SharedPath([]string{"geo", "country"})) != 2 {
		t.Errorf("appending to the shared path changed it: %q %q", c, d)
	}
	if e := SharedPath([]string{"geo"}); len(e) != 1 || &e[0] == &a[0] {
		t.Errorf("geo shares geo.country's copy: %q", e)
	}
	// A member's name may hold any byte: "geo\u0000country" is one name.
	if f := SharedPath([]string{"geo\x00country"}); len(f) != 1 || f[0] != "geo\x00country" {
		t.Errorf(`the path of one member "geo\x00country" came back as %q`, f)
	}
	if g := SharedPath([]string{"geo\x00", "country"}); len(g) != 2 || g[0] != "geo\x00" {
		t.Errorf(`the path "geo\x00", "country" came back as %q`, g)
	}
}
