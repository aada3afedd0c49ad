package server

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/source"
)

// Ingest takes events over HTTP — POST /v1/events/{stream}, a body of
// JSON lines or one JSON array, gzip accepted — and is a source.Source
// the runtime reads like any other.
//
// What a response means:
//   - 200: every event of the request has been pushed to the engine (it
//     is in event-time processing, and the next checkpoint covers it).
//   - 429 with Retry-After: the pipeline is full (MaxPending events are
//     queued or being pushed); nothing of the request was taken.
//   - 400 or 413: the body is malformed or too large (or holds more events
//     than MaxPending); nothing was taken.
//   - 503: cep is stopping, or the events were not pushed within Wait;
//     with "taken": false nothing was taken; with "taken": true the
//     events are queued and will be processed unless cep stops first —
//     a retry may duplicate them.
//
// Ingest cannot resume: a crash loses what was pushed after the last
// checkpoint, as with standard input; alerts from events that were pushed
// before it are safe (at least once, with the same ids).
type Ingest struct {
	// SourceName names the source in logs, metrics and checkpoints.
	SourceName string
	// Specs are the accepted streams with their time and id fields.
	Specs []source.Spec
	// MaxBody bounds a request body as sent (compressed or not);
	// MaxDecoded bounds it after gzip. Defaults 8MiB and 8×MaxBody.
	MaxBody, MaxDecoded int64
	// MaxPending bounds the events taken but not yet pushed; default
	// DefaultMaxPending.
	MaxPending int64
	// Wait bounds how long a request waits for its events to be pushed;
	// default 30s.
	Wait time.Duration

	once     sync.Once
	ch       chan source.Batch
	stopped  chan struct{}
	pending  atomic.Int64
	counts   source.Counters
	decoders map[string]*streamDecoder
	mu       sync.Mutex
	requests map[requestKey]uint64
}

// DefaultMaxPending bounds ingest's queue unless configured.
const DefaultMaxPending = 100_000

type streamDecoder struct {
	mu  sync.Mutex
	dec event.Decoder
}

type requestKey struct {
	stream string
	code   int
}

func (in *Ingest) init() {
	in.once.Do(func() {
		in.ch = make(chan source.Batch, 16)
		in.stopped = make(chan struct{})
		in.decoders = map[string]*streamDecoder{}
		for _, s := range in.Specs {
			in.decoders[s.Stream] = &streamDecoder{dec: event.Decoder{Stream: s.Stream, TimeField: s.TimeField, IDField: s.IDField}}
		}
		in.requests = map[requestKey]uint64{}
		if in.MaxBody <= 0 {
			in.MaxBody = 8 << 20
		}
		if in.MaxDecoded <= 0 {
			in.MaxDecoded = 8 * in.MaxBody
		}
		if in.MaxPending <= 0 {
			in.MaxPending = DefaultMaxPending
		}
		if in.Wait <= 0 {
			in.Wait = 30 * time.Second
		}
	})
}

// Name implements source.Source.
func (in *Ingest) Name() string { return in.SourceName }

// Streams implements source.Source.
func (in *Ingest) Streams() []string {
	out := make([]string, 0, len(in.Specs))
	for _, s := range in.Specs {
		out = append(out, s.Stream)
	}
	return out
}

// Counts implements source.Source.
func (in *Ingest) Counts() *source.Counters { return &in.counts }

// Pending is the number of events taken and not yet pushed.
func (in *Ingest) Pending() int64 { return in.pending.Load() }

// Requests returns the requests answered, by stream and status code.
func (in *Ingest) Requests() map[[2]string]uint64 {
	in.init()
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make(map[[2]string]uint64, len(in.requests))
	for k, v := range in.requests {
		out[[2]string{k.stream, strconv.Itoa(k.code)}] = v
	}
	return out
}

// Run implements source.Source: it hands the requests' batches to the
// runtime until ctx is done. Ingest never ends by itself.
func (in *Ingest) Run(ctx context.Context, _ source.Positions, out chan<- source.Batch) error {
	in.init()
	defer close(in.stopped)
	for {
		select {
		case b := <-in.ch:
			select {
			case out <- b:
			case <-ctx.Done():
				return nil
			}
		case <-ctx.Done():
			return nil
		}
	}
}

func (in *Ingest) answer(w http.ResponseWriter, stream string, code int, body any) {
	in.mu.Lock()
	in.requests[requestKey{stream, code}]++
	in.mu.Unlock()
	writeJSON(w, code, body)
}

// ServeHTTP takes one request's events.
func (in *Ingest) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	in.init()
	stream := r.PathValue("stream")
	sd := in.decoders[stream]
	if sd == nil {
		in.answer(w, stream, http.StatusNotFound, map[string]any{"error": fmt.Sprintf("stream %q is not taken here; ingest takes %v", stream, in.Streams())})
		return
	}
	evs, err := in.decode(w, r, sd)
	if err != nil {
		code := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) || errors.Is(err, errDecodedTooLarge) {
			code = http.StatusRequestEntityTooLarge
		}
		in.answer(w, stream, code, map[string]any{"error": err.Error(), "taken": false})
		return
	}
	if len(evs) == 0 {
		in.answer(w, stream, http.StatusOK, map[string]any{"events": 0})
		return
	}
	n := int64(len(evs))
	if n > in.MaxPending {
		// Retrying could never succeed: say so instead of 429.
		in.answer(w, stream, http.StatusRequestEntityTooLarge, map[string]any{"error": fmt.Sprintf("%d events in one request exceed max_pending_events (%d): send smaller batches", n, in.MaxPending), "taken": false})
		return
	}
	if in.pending.Add(n) > in.MaxPending {
		in.pending.Add(-n)
		w.Header().Set("Retry-After", "1")
		in.answer(w, stream, http.StatusTooManyRequests, map[string]any{"error": "the pipeline is full: retry later", "taken": false})
		return
	}
	done := make(chan struct{})
	b := source.Batch{Source: in.SourceName, Events: evs, Pushed: func() {
		in.pending.Add(-n)
		in.counts.Events.Add(uint64(n))
		close(done)
	}}
	select {
	case in.ch <- b:
	case <-in.stopped:
		in.pending.Add(-n)
		in.answer(w, stream, http.StatusServiceUnavailable, map[string]any{"error": "cep is stopping", "taken": false})
		return
	default:
		// The hand-over channel is full although events are under the
		// bound: the loop is busy. Back-pressure, as above.
		in.pending.Add(-n)
		w.Header().Set("Retry-After", "1")
		in.answer(w, stream, http.StatusTooManyRequests, map[string]any{"error": "the pipeline is full: retry later", "taken": false})
		return
	}
	t := time.NewTimer(in.Wait)
	defer t.Stop()
	select {
	case <-done:
		in.answer(w, stream, http.StatusOK, map[string]any{"events": n})
	case <-in.stopped:
		in.answer(w, stream, http.StatusServiceUnavailable, map[string]any{"error": "cep stopped before the events were pushed", "taken": true})
	case <-t.C:
		in.answer(w, stream, http.StatusServiceUnavailable, map[string]any{"error": "the events were not pushed in time; they stay queued", "taken": true})
	}
}

var errDecodedTooLarge = errors.New("request body too large once decompressed")

// decode reads a request's events: all of them or an error (the first
// malformed lines with their numbers).
func (in *Ingest) decode(w http.ResponseWriter, r *http.Request, sd *streamDecoder) ([]*event.Event, error) {
	var body io.Reader = http.MaxBytesReader(w, r.Body, in.MaxBody)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(body)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer func() { _ = zr.Close() }()
		body = &limitReader{r: zr, n: in.MaxDecoded}
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return nil, err
	}
	in.counts.Bytes.Add(uint64(len(data)))
	var lines [][]byte
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		var arr []json.RawMessage
		if err := json.Unmarshal(t, &arr); err != nil {
			return nil, fmt.Errorf("the body is not a JSON array of events: %w", err)
		}
		for _, m := range arr {
			lines = append(lines, m)
		}
	} else {
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, len(data)+1)
		for sc.Scan() {
			lines = append(lines, slices.Clone(sc.Bytes()))
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	sd.mu.Lock()
	defer sd.mu.Unlock()
	evs := make([]*event.Event, 0, len(lines))
	var bad []error
	for i, l := range lines {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		in.counts.Lines.Add(1)
		ev, err := sd.dec.Decode(l)
		if err != nil {
			in.counts.Malformed.Add(1)
			if len(bad) < 10 {
				bad = append(bad, fmt.Errorf("event %d: %w", i+1, err))
			}
			continue
		}
		ev.Line = i + 1
		evs = append(evs, ev)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("malformed events, none taken: %w", errors.Join(bad...))
	}
	return evs, nil
}

type limitReader struct {
	r io.Reader
	n int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errDecodedTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}
