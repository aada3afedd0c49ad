package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for cep when a test's cep runs
// cep again (cep bench --feed process starts cep bench-feed): with
// CEP_TEST_MAIN set, it runs the command its arguments name.
func TestMain(m *testing.M) {
	if os.Getenv("CEP_TEST_MAIN") == "1" {
		a := &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
		os.Exit(a.main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// TestFeedWritesEveryLineOnTime: the feeder writes the lines whole and in
// order, each batch no earlier than its lines are due, and stamps each
// batch with its first line.
func TestFeedWritesEveryLineOnTime(t *testing.T) {
	var data bytes.Buffer
	const n = 2000
	for i := range n {
		fmt.Fprintf(&data, `{"n":%d}`+"\n", i)
	}
	const rate = 200000 // ten lines a batch, 10 ms in all
	var out, stamps bytes.Buffer
	if err := feed(data.Bytes(), rate, &out, &stamps); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), data.Bytes()) {
		t.Fatalf("wrote %d bytes, want the %d of the input, unchanged", out.Len(), data.Len())
	}
	f := &feedSource{read: closed()}
	var err error
	if f.start, f.batches, err = decodeStamps(stamps.Bytes()); err != nil || len(f.batches) == 0 {
		t.Fatalf("stamps: %v, %d batches: want a start and some", err, len(f.batches))
	}
	if f.batches[0].first != 1 {
		t.Errorf("first batch starts at line %d, want 1", f.batches[0].first)
	}
	for i, b := range f.batches {
		if i > 0 && (b.first <= f.batches[i-1].first || b.at < f.batches[i-1].at) {
			t.Fatalf("batch %d (line %d at %d) after line %d at %d: want later lines, written no earlier", i, b.first, b.at, f.batches[i-1].first, f.batches[i-1].at)
		}
		// A batch holds its lines up to the next one's first (or the
		// last line); it is written once the last of them is due.
		last := uint64(n)
		if i+1 < len(f.batches) {
			last = f.batches[i+1].first - 1
		}
		if at, due, ok := f.written(last, rate); !ok || at != b.at || at < due {
			t.Errorf("line %d: written at %d (ok %v), due at %d; want its batch's %d, not before it is due", last, at, ok, due, b.at)
		}
	}
	if took := time.Duration(f.batches[len(f.batches)-1].at - f.start); took < n*time.Second/rate-time.Millisecond {
		t.Errorf("the last batch was written %v after the start: want no sooner than %v", took, n*time.Second/rate)
	}
}

// An event's write is its batch's: the batch whose first line is the
// greatest at or below the event's; its due time is its own.
func TestFeedWritten(t *testing.T) {
	f := &feedSource{start: 1000, batches: []feedStamp{{1, 5000}, {4, 9000}, {9, 12000}}, read: closed()}
	for _, tc := range []struct {
		line    uint64
		at, due int64
		ok      bool
	}{
		{0, 0, 0, false},
		{1, 5000, 1010, true},
		{3, 5000, 1030, true},
		{4, 9000, 1040, true},
		{9, 12000, 1090, true},
		{100, 12000, 2000, true},
	} {
		at, due, ok := f.written(tc.line, 100e6) // a line every 10 ns
		if at != tc.at || due != tc.due || ok != tc.ok {
			t.Errorf("written(%d) = %d, %d, %v; want %d, %d, %v", tc.line, at, due, ok, tc.at, tc.due, tc.ok)
		}
	}
}

// closed is a closed channel: a feed's stamps already read.
func closed() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// TestBenchFeedProcess: a paced run fed by another process over a pipe
// finds what the in-process feed finds, and measures each alert's
// latency from its batch's write and from its event's due time, which
// is no later.
func TestBenchFeedProcess(t *testing.T) {
	t.Setenv("CEP_TEST_MAIN", "1")
	args := []string{"bench", "--scenario", "sequence", "--events", "40000", "--rate", "200000", "--stall-probe", "0s", "--json"}
	var inline, fed benchResult
	for _, run := range []struct {
		r    *benchResult
		args []string
	}{{&inline, args}, {&fed, append(args, "--feed", "process")}} {
		code, out, errs := runApp(t, run.args...)
		if code != 0 {
			t.Fatalf("cep %s exited %d: %s", strings.Join(run.args, " "), code, errs)
		}
		if err := json.Unmarshal([]byte(out), run.r); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
	}
	if fed.Alerts == 0 || fed.Alerts != inline.Alerts {
		t.Errorf("fed by a process: %d alerts; in process: %d: want the same, and some", fed.Alerts, inline.Alerts)
	}
	if fed.LatencyP50Us <= 0 || fed.LatencyDueP50Us < fed.LatencyP50Us || fed.LatencyDueP99Us < fed.LatencyP99Us {
		t.Errorf("from the write p50 %.1f, p99 %.1f µs; from the due time %.1f, %.1f: want measured, and from the due time no less", fed.LatencyP50Us, fed.LatencyP99Us, fed.LatencyDueP50Us, fed.LatencyDueP99Us)
	}
}

func TestBenchFeedFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--feed", "socket", "--rate", "1000"}, `--feed: inline or process, not "socket"`},
		{[]string{"--feed", "process"}, "--feed process paces the events: it needs --rate"},
		{[]string{"--feed", "process", "--rate", "1000", "--checkpoint-interval", "1s"}, "does not take --checkpoint-interval"},
	} {
		code, _, errs := runApp(t, append([]string{"bench", "--scenario", "sequence", "--events", "100"}, tc.args...)...)
		if code == 0 || !strings.Contains(errs, tc.want) {
			t.Errorf("cep bench %s: exit %d, %q; want an error saying %q", strings.Join(tc.args, " "), code, errs, tc.want)
		}
	}
}
