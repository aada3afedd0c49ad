package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cep-project/cep/event"
)

// randomLines writes n lines of events among blank, malformed, untimed and
// oversized lines, lines ending in CRLF, and lines longer than a reader's
// buffer.
func randomLines(seed uint64, n int) string {
	rnd := rand.New(rand.NewPCG(seed, 3))
	var b strings.Builder
	for i := range n {
		switch rnd.IntN(40) {
		case 0:
			switch rnd.IntN(3) {
			case 0:
				b.WriteString("\n")
			case 1:
				b.WriteString(" \t\r\n")
			default:
				fmt.Fprintf(&b, `{"id":"c%d","ts":%d}`+"\r\n", i, 1_700_000_000+i)
			}
		case 39:
			if rnd.IntN(50) == 0 {
				fmt.Fprintf(&b, `{"ts":1,"x":"%s"}`+"\n", strings.Repeat("z", 300_000))
			} else {
				fmt.Fprintf(&b, `{"id":"e%d","ts":%d}`+"\n", i, 1_700_000_000+i)
			}
		case 1:
			b.WriteString("not json\n")
		case 2:
			fmt.Fprintf(&b, `{"id":"u%d"}`+"\n", i)
		case 3:
			fmt.Fprintf(&b, `{"ts":1,"x":"%s"}`+"\n", strings.Repeat("y", 2000))
		default:
			fmt.Fprintf(&b, `{"id":"e%d","ts":%d,"pad":"%s"}`+"\n", i, 1_700_000_000+i, strings.Repeat("p", rnd.IntN(300)))
		}
	}
	return b.String()
}

// readLines reads text with one Reader, one event at a time, as the
// reference for sources that decode in parallel: its events as
// "id:line:seq", its malformed lines' errors, and the Reader for its
// counts.
func readLines(t *testing.T, text string, spec Spec) (events, malformed []string, r *Reader) {
	t.Helper()
	r = NewReader(strings.NewReader(text), spec, nil)
	r.OnMalformed = func(err error) { malformed = append(malformed, err.Error()) }
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			return events, malformed, r
		}
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, fmt.Sprintf("%s:%d:%d", ev.ID, ev.Line, ev.Seq))
	}
}

type collected struct {
	events    []string
	positions [][]byte
	batches   int
}

func collect(t *testing.T, src Source, out chan Batch) collected {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, nil, out) }()
	var c collected
	for {
		b := <-out
		c.batches++
		for _, ev := range b.Events {
			c.events = append(c.events, fmt.Sprintf("%s:%d:%d", ev.ID, ev.Line, ev.Seq))
		}
		if b.Pos != nil {
			c.positions = append(c.positions, b.Pos)
		}
		if b.End {
			if b.Err != nil {
				t.Fatal(b.Err)
			}
			break
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return c
}

// TestParallelDecodeKeepsOrder holds a source decoding on several
// goroutines to what one reader decoding line by line gives: the same
// events with the same line and event numbers, the same malformed lines
// in the same order, and the same final position.
func TestParallelDecodeKeepsOrder(t *testing.T) {
	text := randomLines(1, 5000)
	path := filepath.Join(t.TempDir(), "s.jsonl")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	dec := event.Decoder{Limits: event.Limits{MaxLineSize: 1500}}
	spec := Spec{Name: "f", Stream: "s", Decoder: dec}
	// The reference: one reader, one event at a time.
	want, wantMalformed, r := readLines(t, text, spec)
	if r.Counts.Lines.Load() != 5000 || r.Counts.Bytes.Load() != uint64(len(text)) {
		t.Errorf("one reader counts %d lines, %d bytes; want 5000, %d", r.Counts.Lines.Load(), r.Counts.Bytes.Load(), len(text))
	}
	if len(wantMalformed) < 100 || len(want) < 4000 {
		t.Fatalf("%d events, %d malformed: the input is not mixed enough", len(want), len(wantMalformed))
	}
	var lastPos []byte
	for _, n := range []int{1, 2, 7} {
		for _, kind := range []string{"file", "reader"} {
			spec := spec
			spec.Decoders = n
			var src Source
			var malformed []string
			onBad := func(err error) { malformed = append(malformed, err.Error()) }
			switch kind {
			case "file":
				src = &File{Spec: spec, Path: path, OnMalformed: onBad}
			default:
				src = &Reading{Spec: spec, R: strings.NewReader(text), OnMalformed: onBad}
			}
			got := collect(t, src, make(chan Batch, 3))
			if strings.Join(got.events, " ") != strings.Join(want, " ") {
				t.Errorf("%s, %d decoders: events differ from a sequential read", kind, n)
			}
			if strings.Join(malformed, "\n") != strings.Join(wantMalformed, "\n") {
				t.Errorf("%s, %d decoders: malformed lines differ:\n%s", kind, n, strings.Join(malformed, "\n"))
			}
			c := src.Counts()
			if c.Events.Load() != uint64(len(want)) || c.Malformed.Load() != uint64(len(wantMalformed)) || c.Lines.Load() != 5000 || c.Bytes.Load() != uint64(len(text)) {
				t.Errorf("%s, %d decoders: counts %d events, %d malformed, %d lines, %d bytes (want %d)", kind, n, c.Events.Load(), c.Malformed.Load(), c.Lines.Load(), c.Bytes.Load(), len(text))
			}
			if kind == "file" {
				p := got.positions[len(got.positions)-1]
				if lastPos != nil && string(p) != string(lastPos) {
					t.Errorf("%d decoders: final position differs", n)
				}
				lastPos = p
				fp, err := decodeFilePos(p)
				if err != nil || fp.off != int64(len(text)) || fp.line != 5000 || fp.seq != uint64(len(want)) {
					t.Errorf("%d decoders: final position %+v (%v)", n, fp, err)
				}
			}
		}
	}
}

// TestPositionsFollowBatches checks that each batch's position is just
// after its last line: resuming from any of them reads the rest exactly.
func TestPositionsFollowBatches(t *testing.T) {
	text := randomLines(2, 3000)
	path := filepath.Join(t.TempDir(), "s.jsonl")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Name: "f", Stream: "s", Decoders: 3}
	all := collect(t, &File{Spec: spec, Path: path}, make(chan Batch, 1))
	if all.batches < 5 {
		t.Fatalf("%d batches", all.batches)
	}
	for _, i := range []int{0, len(all.positions) / 2, len(all.positions) - 2} {
		fp, err := decodeFilePos(all.positions[i])
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		out := make(chan Batch, 1)
		done := make(chan error, 1)
		go func() {
			done <- (&File{Spec: spec, Path: path}).Run(ctx, Positions{"": all.positions[i]}, out)
		}()
		var rest []string
		for b := range out {
			for _, ev := range b.Events {
				rest = append(rest, fmt.Sprintf("%s:%d:%d", ev.ID, ev.Line, ev.Seq))
			}
			if b.End {
				break
			}
		}
		cancel()
		<-done
		if strings.Join(rest, " ") != strings.Join(all.events[fp.seq:], " ") {
			t.Errorf("resumed at batch %d (%+v): not the rest of the input", i, fp)
		}
	}
}

// TestProjectionChangesWhileRunning: a reload's new projection applies to
// the lines decoded after it.
func TestProjectionChangesWhileRunning(t *testing.T) {
	pr, pw := io.Pipe()
	proj := NewProjection(event.NewProjection([][]string{{"a"}}))
	src := &Reading{Spec: Spec{Name: "in", Stream: "s", Projection: proj, Decoders: 2}, R: pr}
	out := make(chan Batch, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = src.Run(ctx, nil, out) }()
	next := func(line string) *event.Event {
		t.Helper()
		if _, err := io.WriteString(pw, line+"\n"); err != nil {
			t.Fatal(err)
		}
		select {
		case b := <-out:
			return b.Events[0]
		case <-time.After(5 * time.Second):
			t.Fatal("no batch")
		}
		return nil
	}
	ev := next(`{"ts":1,"a":1,"b":2}`)
	if got := keys(ev.Fields); got != "ts,a" {
		t.Errorf("first projection: %s", got)
	}
	proj.Store(event.NewProjection([][]string{{"b"}}))
	// Each decoder takes the change at its next chunk.
	for range 4 {
		ev = next(`{"ts":2,"a":1,"b":2}`)
	}
	if got := keys(ev.Fields); got != "ts,b" {
		t.Errorf("after the change: %s", got)
	}
	proj.Store(nil)
	for range 4 {
		ev = next(`{"ts":3,"a":1,"b":2}`)
	}
	if got := keys(ev.Fields); got != "ts,a,b" || ev.Projected() {
		t.Errorf("decoding in full: %s", got)
	}
	pw.Close()
}

func keys(fs []event.Field) string {
	var ks []string
	for _, f := range fs {
		ks = append(ks, f.Key)
	}
	return strings.Join(ks, ",")
}

// BenchmarkFileSource reads a file of payment events through a file
// source, as cep run does, with one decoder and with GOMAXPROCS.
func BenchmarkFileSource(b *testing.B) {
	var sb strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&sb, `{"id":"pay-%07d","ts":"2026-03-02T08:00:00.000Z","account_user":"u-00020","amount":38.89,"card_id":"c-100140","country":"DE","currency":"EUR","device_id":"d-00020","mcc":"4511","merchant":"m-0239","result":"approved","type":"card_auth"}`+"\n", i)
	}
	path := filepath.Join(b.TempDir(), "p.jsonl")
	if err := os.WriteFile(path, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 0} {
		for _, proj := range []*event.Projection{nil, event.NewProjection([][]string{{"card_id"}, {"amount"}, {"result"}})} {
			name := fmt.Sprintf("decoders=%d/projected=%v", n, proj != nil)
			if n == 0 {
				name = fmt.Sprintf("decoders=gomaxprocs/projected=%v", proj != nil)
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(int64(sb.Len()))
				b.ReportAllocs()
				for b.Loop() {
					src := &File{Spec: Spec{Name: "p", Stream: "payments", Decoders: n, Decoder: event.Decoder{Project: proj}}, Path: path}
					out := make(chan Batch, 4)
					go func() { _ = src.Run(context.Background(), nil, out) }()
					for bt := range out {
						if bt.End {
							break
						}
					}
				}
			})
		}
	}
}

// TestPreparationRunsOnDecoders: while batches wait for the consumer, the
// decoders run the preparation on the events they decode, each with a
// function of its own; Store(nil) stops it; the events and their order
// are those of a run without it. The consumer may take batches from a
// buffered channel or, as the runtime's forwarder of one of several
// sources does, an unbuffered one.
func TestPreparationRunsOnDecoders(t *testing.T) {
	for _, room := range []int{1, 0} {
		t.Run(fmt.Sprintf("room=%d", room), func(t *testing.T) { testPreparationRunsOnDecoders(t, room) })
	}
}

func testPreparationRunsOnDecoders(t *testing.T, room int) {
	var b strings.Builder
	// Enough chunks that some start while a batch waits, however the
	// goroutines are scheduled (CI: with 20 chunks on a loaded machine,
	// none did).
	const n = 100 * batchEvents
	for i := range n {
		fmt.Fprintf(&b, `{"id":"e%d","ts":%d}`+"\n", i, 1_700_000_000+i)
	}
	path := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	prep := &Preparation{}
	var makers, longest atomic.Int32
	prep.Store(func() func([]*event.Event) {
		makers.Add(1)
		return func(evs []*event.Event) {
			// A decoder yields its processor between runs of lines.
			if n := int32(len(evs)); n > longest.Load() {
				longest.Store(n)
			}
			for _, ev := range evs {
				if ev != nil {
					ev.Prepared = &event.Prepared{By: 7, Hits: []int32{int32(len(ev.Raw))}}
				}
			}
		}
	})
	src := &File{Spec: Spec{Name: "in", Stream: "s", Decoders: 2, Prepare: prep}, Path: path}
	out := make(chan Batch, room)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() { _ = src.Run(ctx, nil, out) }()
	prepared, seen := 0, 0
	for done := false; !done; {
		// Let a batch wait in out, or the emitter at it, as for a slow
		// consumer.
		if room == 0 {
			time.Sleep(500 * time.Microsecond)
		}
		for len(out) < cap(out) && ctx.Err() == nil {
			time.Sleep(100 * time.Microsecond)
		}
		bt := <-out
		for _, ev := range bt.Events {
			if want := fmt.Sprintf("e%d", seen); ev.ID != want {
				t.Fatalf("event %s, want %s", ev.ID, want)
			}
			seen++
			switch p := ev.Prepared; {
			case p == nil:
			case p.By == 7 && len(p.Hits) == 1 && p.Hits[0] == int32(len(ev.Raw)):
				prepared++
			default:
				t.Fatalf("event %s prepared as %+v", ev.ID, p)
			}
		}
		done = bt.End
		if seen >= n/2 {
			prep.Store(nil)
		}
	}
	if seen != n {
		t.Fatalf("%d events, want %d", seen, n)
	}
	if prepared == 0 || prepared > n/2+2*batchEvents*2 {
		t.Errorf("%d of %d events prepared: want some, and none a few chunks after Store(nil)", prepared, n)
	}
	if m := makers.Load(); m < 1 || m > 2 {
		t.Errorf("%d preparation functions made for 2 decoders", m)
	}
	if l := longest.Load(); l > decodeRun {
		t.Errorf("a decoder prepared %d events at once, more than its run of %d", l, decodeRun)
	}
}

// TestPreparationWhileDecodersIdle: a live source's decoders, with no
// other chunk waiting for them, prepare its events even though the
// consumer takes each batch at once: their time is free, and the
// consumer's, one goroutine for every source, is what a live source's
// latency queues for. (Preparing only while batches waited for the
// consumer left a service fed over a pipe at 200,000 events/s with its
// engine busy 68% of the time, against 52-57% with its events prepared.)
// Batches of one line and of a hundred are prepared alike.
func TestPreparationWhileDecodersIdle(t *testing.T) {
	for _, lines := range []int{100, 1} {
		t.Run(fmt.Sprintf("lines=%d", lines), func(t *testing.T) {
			prep := &Preparation{}
			prep.Store(func() func([]*event.Event) {
				return func(evs []*event.Event) {
					for _, ev := range evs {
						if ev != nil {
							ev.Prepared = &event.Prepared{By: 7}
						}
					}
				}
			})
			pr, pw := io.Pipe()
			src := &Reading{Spec: Spec{Name: "in", Stream: "s", Decoders: 2, Prepare: prep}, R: pr}
			out := make(chan Batch)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			go func() { _ = src.Run(ctx, nil, out) }()
			// A write at a time, each batch taken before the next is
			// written: no chunk ever waits for a decoder, and the emitter
			// never waits for the consumer.
			n := 0
			for range 20 {
				var b strings.Builder
				for range lines {
					fmt.Fprintf(&b, `{"id":"e%d","ts":%d}`+"\n", n, 1_700_000_000+n)
					n++
				}
				go func() { _, _ = io.WriteString(pw, b.String()) }()
				var bt Batch
				select {
				case bt = <-out:
				case <-ctx.Done():
					t.Fatalf("no batch for line %d", n)
				}
				if len(bt.Events) != lines {
					t.Fatalf("a batch of %d events, want the %d written", len(bt.Events), lines)
				}
				for i, ev := range bt.Events {
					if want := fmt.Sprintf("e%d", n-lines+i); ev.ID != want || ev.Seq != uint64(n-lines+i+1) {
						t.Fatalf("event %s numbered %d, want %s numbered %d", ev.ID, ev.Seq, want, n-lines+i+1)
					}
					if p := ev.Prepared; p == nil || p.By != 7 {
						t.Errorf("event %s not prepared", ev.ID)
					}
				}
			}
			_ = pw.Close()
		})
	}
}

// TestLiveChunksInOrder: a live source whose writes come now in single
// lines and now in bursts, with pauses between some, hands its events on
// in order, numbered one after the other, malformed lines counted where
// they fall, however its chunks were cut and spread over the decoders.
func TestLiveChunksInOrder(t *testing.T) {
	pr, pw := io.Pipe()
	src := &Reading{Spec: Spec{Name: "in", Stream: "s", Decoders: 2}, R: pr}
	out := make(chan Batch, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() { _ = src.Run(ctx, nil, out) }()
	rnd := rand.New(rand.NewPCG(3, 4))
	want, bad := 0, 0
	go func() {
		line := 0
		for range 300 {
			var b strings.Builder
			for range []int{1, 1, 3, 2 * batchEvents, 700}[rnd.IntN(5)] {
				line++
				if rnd.IntN(50) == 0 {
					b.WriteString("{not json\n")
					bad++
					continue
				}
				fmt.Fprintf(&b, `{"id":"e%d","ts":%d}`+"\n", want, 1_700_000_000+want)
				want++
			}
			_, _ = io.WriteString(pw, b.String())
			if rnd.IntN(3) == 0 {
				time.Sleep(100 * time.Microsecond)
			}
		}
		_ = pw.Close()
	}()
	seen := 0
	for done := false; !done; {
		var bt Batch
		select {
		case bt = <-out:
		case <-ctx.Done():
			t.Fatalf("stopped after %d events", seen)
		}
		for _, ev := range bt.Events {
			if w := fmt.Sprintf("e%d", seen); ev.ID != w || ev.Seq != uint64(seen+1) {
				t.Fatalf("event %s numbered %d, want %s numbered %d", ev.ID, ev.Seq, w, seen+1)
			}
			seen++
		}
		done = bt.End
	}
	if seen != want {
		t.Errorf("%d events, want %d", seen, want)
	}
	if m := src.Counts().Malformed.Load(); m != uint64(bad) {
		t.Errorf("%d malformed lines counted, want %d", m, bad)
	}
}

// TestScreensOnDecoders: every decoder screens its lines with a screen of
// its own from the Preparation's maker, whether the consumer waits or
// not, and the events it turns away read as the others do.
func TestScreensOnDecoders(t *testing.T) {
	var b strings.Builder
	const n = 40 * batchEvents
	for i := range n {
		fmt.Fprintf(&b, `{"id":"e%d","ts":%d,"k":"k%d","v":%d}`+"\n", i, 1_700_000_000+i, i%20, i)
	}
	path := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	prep := &Preparation{}
	var makers atomic.Int32
	prep.StoreScreens(func(stream string) *event.Screen {
		if stream != "s" {
			t.Errorf("a screen of stream %q", stream)
		}
		makers.Add(1)
		return &event.Screen{Project: event.NewProjection([][]string{{"k"}}), Pass: func(ev *event.Event) bool {
			k, _ := ev.Get("k")
			return k.Str() == "k0"
		}}
	})
	proj := NewProjection(event.NewProjection([][]string{{"k"}, {"v"}}))
	src := &File{Spec: Spec{Name: "in", Stream: "s", Decoders: 2, Prepare: prep, Projection: proj}, Path: path}
	out := make(chan Batch, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() { _ = src.Run(ctx, nil, out) }()
	screened, seen := 0, 0
	for done := false; !done; {
		bt := <-out
		for _, ev := range bt.Events {
			if want := fmt.Sprintf("e%d", seen); ev.ID != want {
				t.Fatalf("event %s, want %s", ev.ID, want)
			}
			// Whatever was decoded, v reads as it is in the line.
			if v, ok := ev.Get("v"); !ok || v.Num() != float64(seen) {
				t.Fatalf("event %s: v %v %v", ev.ID, v, ok)
			}
			decoded := slices.ContainsFunc(ev.Fields, func(f event.Field) bool { return f.Key == "v" })
			k, _ := ev.Get("k")
			switch {
			case !decoded && k.Str() != "k0":
				screened++
			case !decoded:
				t.Fatalf("event %s let through but not decoded in full", ev.ID)
			}
			seen++
		}
		done = bt.End
	}
	// One in twenty passes, too few for a decoder to set its screen
	// aside.
	if seen != n || screened != n-n/20 {
		t.Fatalf("%d events, %d screened out: want %d, %d", seen, screened, n, n-n/20)
	}
	if got := src.Counts().Screened.Load(); got != uint64(screened) {
		t.Errorf("Counts().Screened = %d, want %d", got, screened)
	}
	if m := makers.Load(); m < 1 || m > 2 {
		t.Errorf("%d screens made for 2 decoders", m)
	}
}
