package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func line(id string, sec int) string {
	return fmt.Sprintf(`{"id":%q,"ts":%d}`+"\n", id, 1_700_000_000+sec)
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// run starts src and returns a function that waits for n more events (or
// the end), returning their ids and the last position seen.
type runner struct {
	out    chan Batch
	cancel context.CancelFunc
	done   chan error
	pos    []byte
	ended  bool
}

func start(t *testing.T, src Source, from Positions) *runner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &runner{out: make(chan Batch, 4), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- src.Run(ctx, from, r.out) }()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

func (r *runner) take(t *testing.T, n int) string {
	t.Helper()
	var ids []string
	deadline := time.After(5 * time.Second)
	for len(ids) < n && !r.ended {
		select {
		case b := <-r.out:
			for _, ev := range b.Events {
				ids = append(ids, fmt.Sprintf("%s:%d:%d", ev.ID, ev.Line, ev.Seq))
			}
			if b.Pos != nil {
				r.pos = b.Pos
			}
			if b.Err != nil {
				t.Fatalf("source error: %v", b.Err)
			}
			r.ended = b.End
		case <-deadline:
			t.Fatalf("timed out with %d of %d events: %v", len(ids), n, ids)
		}
	}
	return strings.Join(ids, " ")
}

func testFile(t *testing.T, path string, follow bool) *File {
	return &File{Spec: Spec{Name: "f", Stream: "s"}, Path: path, Follow: follow, Poll: 5 * time.Millisecond}
}

// A replayed file ends with a position; resuming from it reads only what
// was appended since, with line numbers and event numbers carried on.
func TestFileResumesFromPosition(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.jsonl")
	appendFile(t, path, line("a", 1)+line("b", 2))
	r := start(t, testFile(t, path, false), nil)
	if got := r.take(t, 99); got != "a:1:1 b:2:2" {
		t.Fatalf("first run: %s", got)
	}
	appendFile(t, path, "\n"+line("c", 3))
	r2 := start(t, testFile(t, path, false), Positions{"": r.pos})
	if got := r2.take(t, 99); got != "c:4:3" {
		t.Errorf("resumed run: %s", got)
	}
}

func TestFileFollowsGrowthAndHoldsPartialLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.jsonl")
	appendFile(t, path, line("a", 1))
	r := start(t, testFile(t, path, true), nil)
	if got := r.take(t, 1); got != "a:1:1" {
		t.Fatalf("got %s", got)
	}
	// A writer half-way through a line: nothing until its newline.
	l := line("b", 2)
	appendFile(t, path, l[:7])
	time.Sleep(30 * time.Millisecond)
	appendFile(t, path, l[7:])
	if got := r.take(t, 1); got != "b:2:2" {
		t.Errorf("got %s", got)
	}
}

// tail -F: a file renamed away and replaced loses no line, including lines
// written to the old file after the last read.
func TestFileFollowsRenameRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.jsonl")
	appendFile(t, path, line("a", 1)+line("b", 2))
	r := start(t, testFile(t, path, true), nil)
	if got := r.take(t, 2); got != "a:1:1 b:2:2" {
		t.Fatalf("got %s", got)
	}
	old, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if _, err := old.WriteString(line("c", 3)); err != nil {
		t.Fatal(err)
	}
	old.Close()
	appendFile(t, path, line("d", 4)+line("e", 5))
	if got := r.take(t, 3); got != "c:3:3 d:1:4 e:2:5" {
		t.Errorf("got %s", got)
	}
}

func TestFileFollowsCopyTruncate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.jsonl")
	appendFile(t, path, line("a", 1)+line("b", 2))
	r := start(t, testFile(t, path, true), nil)
	if got := r.take(t, 2); got != "a:1:1 b:2:2" {
		t.Fatalf("got %s", got)
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	appendFile(t, path, line("c", 3))
	if got := r.take(t, 1); got != "c:1:3" {
		t.Errorf("got %s", got)
	}
}

// Rotated while cep was down: the rest of the old file comes first, then
// the new file from its start.
func TestFileResumesAcrossRotationWhileDown(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.jsonl")
	appendFile(t, path, line("a", 1))
	r := start(t, testFile(t, path, false), nil)
	if got := r.take(t, 99); got != "a:1:1" {
		t.Fatalf("got %s", got)
	}
	appendFile(t, path, line("b", 2))
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, line("c", 3))
	r2 := start(t, testFile(t, path, false), Positions{"": r.pos})
	if got := r2.take(t, 99); got != "b:2:2 c:1:3" {
		t.Errorf("got %s", got)
	}
}

func TestFileResumesAfterTruncationWhileDown(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.jsonl")
	appendFile(t, path, line("a", 1)+line("b", 2))
	r := start(t, testFile(t, path, false), nil)
	r.take(t, 99)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, line("c", 3))
	r2 := start(t, testFile(t, path, false), Positions{"": r.pos})
	if got := r2.take(t, 99); got != "c:1:3" {
		t.Errorf("got %s", got)
	}
}

func TestPositionsRoundTrip(t *testing.T) {
	p := Positions{"": []byte{1, 2}, "3": nil, "10": []byte("x")}
	got, err := DecodePositions(EncodePositions(p))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || string(got[""]) != "\x01\x02" || string(got["10"]) != "x" {
		t.Errorf("got %v", got)
	}
	if _, err := DecodePositions([]byte{9}); err == nil {
		t.Error("a future version was read")
	}
}

func FuzzDecodePositions(f *testing.F) {
	f.Add(EncodePositions(Positions{"": filePos{path: "/x", off: 5, line: 1, seq: 1}.encode()}))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodePositions(b)
		if err != nil {
			return
		}
		for _, v := range p {
			_, _ = decodeFilePos(v)
		}
	})
}
