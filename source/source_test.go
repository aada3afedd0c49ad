package source

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/cep-project/cep/event"
)

func TestReaderSkipsMalformed(t *testing.T) {
	in := strings.Join([]string{
		`{"id":"e1","ts":1}`,
		`not json`,
		``,
		`{"id":"e2","ts":2}`,
		`{"id":"e3"}`,
		`{"id":"e4","ts":4}` + "\r",
		`{"id":"e5","ts":5}`, // no newline at the end
	}, "\n")
	r := NewReader(strings.NewReader(in), Spec{Name: "f.jsonl", Stream: "s"}, nil)
	var bad []string
	r.OnMalformed = func(err error) { bad = append(bad, err.Error()) }
	var got []string
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%s:%d", ev.ID, ev.Line))
	}
	if g := strings.Join(got, " "); g != "e1:1 e2:4 e4:6 e5:7" {
		t.Errorf("events %s", g)
	}
	if len(bad) != 2 || !strings.HasPrefix(bad[0], "f.jsonl:2: stream s: column 1") || !strings.HasPrefix(bad[1], "f.jsonl:5: stream s: no event time") {
		t.Errorf("malformed %q", bad)
	}
	if r.Counts.Malformed.Load() != 2 || r.Counts.Events.Load() != 4 || r.Counts.Lines.Load() != 7 {
		t.Errorf("counts: malformed %d events %d lines %d", r.Counts.Malformed.Load(), r.Counts.Events.Load(), r.Counts.Lines.Load())
	}
}

func TestReaderLongLines(t *testing.T) {
	long := `{"ts":1,"x":"` + strings.Repeat("a", 300_000) + `"}`
	huge := `{"ts":2,"x":"` + strings.Repeat("b", event.DefaultMaxLineSize) + `"}`
	r := NewReader(strings.NewReader(long+"\n"+huge+"\n"+`{"id":"after","ts":3}`+"\n"), Spec{Name: "f", Stream: "s"}, nil)
	ev, err := r.Next()
	if err != nil || len(ev.Raw) != len(long) {
		t.Fatalf("long line: %v", err)
	}
	ev, err = r.Next()
	if err != nil || ev.ID != "after" || ev.Line != 3 {
		t.Fatalf("after an oversized line: %v %+v", err, ev)
	}
	if r.Counts.Malformed.Load() != 1 {
		t.Errorf("oversized line not counted")
	}
}

func TestMergeOrder(t *testing.T) {
	a := NewReader(strings.NewReader("{\"id\":\"a1\",\"ts\":1}\n{\"id\":\"a2\",\"ts\":4}\n{\"id\":\"a3\",\"ts\":3}\n"), Spec{Name: "a", Stream: "a"}, nil)
	b := NewReader(strings.NewReader("{\"id\":\"b1\",\"ts\":2}\n{\"id\":\"b2\",\"ts\":4}\n"), Spec{Name: "b", Stream: "b"}, nil)
	empty := NewReader(strings.NewReader(""), Spec{Name: "c", Stream: "c"}, nil)
	var ended []string
	m := Merge(func(s string) { ended = append(ended, s) }, a, b, empty)
	var got []string
	for {
		ev, err := m.Next()
		if err != nil {
			break
		}
		got = append(got, ev.ID)
	}
	// Each input keeps its own order (a3 after a2); ties go by stream.
	if g := strings.Join(got, " "); g != "a1 b1 a2 a3 b2" {
		t.Errorf("merged %s", g)
	}
	if e := strings.Join(ended, " "); e != "c a b" {
		t.Errorf("ended %s", e)
	}
}
