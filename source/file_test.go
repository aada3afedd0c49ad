package source

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cep-project/cep/event"
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

// A file is read straight into its chunks (fileRun.drain), other inputs
// through the Reader: both make the same lines of the same input, with
// the same numbers, counts and final offset, whatever the lines' lengths
// against a chunk's buffer and the line limit, and however the file ends.
func TestFileLinesAsReader(t *testing.T) {
	ev := func(i int) string { return fmt.Sprintf(`{"id":"e%d","ts":%d}`, i, 1_700_000_000+i) }
	long := func(n int, c string) string { return `{"ts":1,"x":"` + strings.Repeat(c, n) + `"}` }
	var many strings.Builder
	for i := range 3000 {
		many.WriteString(ev(i) + "\n")
	}
	for _, tc := range []struct {
		name    string
		text    string
		maxLine int
	}{
		{"empty", "", 0},
		{"blank lines only", "\n \n\t\r\n", 0},
		{"no newline at the end", ev(1) + "\n" + ev(2), 0},
		{"a carriage return at the very end", ev(1) + "\n" + ev(2) + "\r", 0},
		{"crlf lines", ev(1) + "\r\n" + ev(2) + "\r\n", 0},
		{"lines longer than a chunk, within the limit", ev(1) + "\n" + long(300_000, "a") + "\n" + ev(2) + "\n" + long(200_000, "b") + "\n", 0},
		{"a line past the limit, then more", ev(1) + "\n" + long(5000, "a") + "\n" + ev(2) + "\n", 1000},
		{"a line past the limit at the end, no newline", ev(1) + "\n" + long(500_000, "a"), 1000},
		{"a blank line past the limit", ev(1) + "\n" + strings.Repeat(" ", 3000) + "\n" + ev(2) + "\n", 1000},
		{"spaces past the limit, then text", ev(1) + "\n" + strings.Repeat(" ", 3000) + "x\n" + ev(2) + "\n", 1000},
		// The first line's length is odd, so the reads, of even sizes,
		// end in the middle of a two-byte space.
		{"no-break spaces past the limit, across reads", ev(1) + " \n" + strings.Repeat("\u00a0", 40_000) + "\n" + ev(2) + "\n", 1000},
		{"many short lines", many.String(), 0},
		{"windows events, script blocks among them", windowsLike(400), 0},
		{"windows events, script blocks past the limit", windowsLike(400), 24_000},
		{"mixed", randomLines(9, 4000), 0},
		{"mixed, a small limit", randomLines(10, 4000), 1500},
	} {
		t.Run(tc.name, func(t *testing.T) { fileLinesAsReader(t, tc.text, tc.maxLine) })
	}
}

// windowsLike returns n lines shaped as Windows events are: 2–4 KB, and
// every seventh a PowerShell script block of 16–32 KB.
func windowsLike(n int) string {
	var b strings.Builder
	for i := range n {
		size := 2000 + i*37%2000
		if i%7 == 3 {
			size = 16_000 + i*997%16_000
		}
		fmt.Fprintf(&b, `{"id":"w%d","ts":%d,"x":"%s"}`+"\n", i, 1_700_000_000+i, strings.Repeat("w", size))
	}
	return b.String()
}

// TestCutBeforeRegrowing: a chunk that has taken half its bytes in whole
// lines is cut where the next line starts, not grown (each growth a copy
// of the chunk into memory new to the process) to take that line.
func TestCutBeforeRegrowing(t *testing.T) {
	text := windowsLike(600)
	path := filepath.Join(t.TempDir(), "w.jsonl")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	var copied int
	testHookGrow = func(n int) { copied += n }
	defer func() { testHookGrow = nil }()
	// The first chunk grows once, from its first size to what its lines
	// say a chunk holds: 64 KiB copied. Grown instead of cut, a file's
	// chunks (a read at a time) copied 926 KB of these 3.6 MB, a
	// reader's 1.1 MB.
	const most = 2 * batchBytes
	for _, tc := range []struct {
		name string
		src  Source
	}{
		{"file", &File{Spec: Spec{Name: "f", Stream: "s"}, Path: path}},
		{"reader", &Reading{Spec: Spec{Name: "r", Stream: "s"}, R: strings.NewReader(text)}},
	} {
		copied = 0
		got := collect(t, tc.src, make(chan Batch, 2))
		if len(got.events) != 600 {
			t.Fatalf("%s: %d events, want 600", tc.name, len(got.events))
		}
		if copied > most {
			t.Errorf("%s: chunks grown by copying %d bytes of %d read, want at most %d", tc.name, copied, len(text), most)
		}
	}
}

// FuzzFileLinesAsReader: whatever the bytes of a file, and the line
// limit, a file's lines are the Reader's (see TestFileLinesAsReader).
func FuzzFileLinesAsReader(f *testing.F) {
	f.Add([]byte("{\"id\":\"a\",\"ts\":1}\n\n \r\n{\"ts\":2}"), uint16(0))
	f.Add([]byte("{\"ts\":1,\"x\":\""+strings.Repeat("a", 300)+"\"}\r\n{\"ts\":2}\n"), uint16(100))
	f.Add([]byte(strings.Repeat(" ", 500)+"\n{\"ts\":3}"), uint16(64))
	f.Fuzz(func(t *testing.T, text []byte, maxLine uint16) {
		// A limit of 0 is the default; others small, so that lines
		// pass it.
		fileLinesAsReader(t, string(text), int(maxLine%2048))
	})
}

// fileLinesAsReader checks that File makes of text what the Reader makes
// of it, under the line limit maxLine (0: the default).
func fileLinesAsReader(t *testing.T, text string, maxLine int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s.jsonl")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Name: "f", Stream: "s", Decoder: event.Decoder{Limits: event.Limits{MaxLineSize: maxLine}}}
	want, wantBad, r := readLines(t, text, spec)
	var bad []string
	f := &File{Spec: spec, Path: path, OnMalformed: func(err error) { bad = append(bad, err.Error()) }}
	got := collect(t, f, make(chan Batch, 2))
	if strings.Join(got.events, " ") != strings.Join(want, " ") {
		t.Errorf("events %.300q\nwant %.300q", strings.Join(got.events, " "), strings.Join(want, " "))
	}
	if strings.Join(bad, "\n") != strings.Join(wantBad, "\n") {
		t.Errorf("malformed %q, want %q", bad, wantBad)
	}
	c := f.Counts()
	if c.Lines.Load() != r.Counts.Lines.Load() || c.Bytes.Load() != uint64(len(text)) || c.Bytes.Load() != r.Counts.Bytes.Load() {
		t.Errorf("counts %d lines, %d bytes; the reader %d, %d", c.Lines.Load(), c.Bytes.Load(), r.Counts.Lines.Load(), r.Counts.Bytes.Load())
	}
	fp, err := decodeFilePos(got.positions[len(got.positions)-1])
	if err != nil || fp.off != int64(len(text)) || uint64(fp.line) != r.Counts.Lines.Load() {
		t.Errorf("final position %+v (%v), want offset %d, line %d", fp, err, len(text), r.Counts.Lines.Load())
	}
}
