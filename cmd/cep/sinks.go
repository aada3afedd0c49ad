package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"sync"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/sinks/siem"
	"github.com/cep-project/cep/sinks/siem/format"
)

// writerSink writes formatted alerts to a file or standard output, for
// replays: an alert is done once it is written.
type writerSink struct {
	w      *bufio.Writer
	format format.Formatter
	log    *slog.Logger
	buf    []byte
	err    error
	n      uint64
}

func newWriterSink(w io.Writer, format format.Formatter, log *slog.Logger) *writerSink {
	return &writerSink{w: bufio.NewWriterSize(w, 256*1024), format: format, log: log}
}

func (s *writerSink) Send(_ context.Context, a *alert.Alert) error {
	var err error
	s.buf, err = s.format.Append(s.buf[:0], a)
	if err != nil {
		s.log.Error("alert could not be formatted; it is written as JSON instead", "id", a.ID, "error", err)
		j, _ := json.Marshal(a)
		s.buf = append(s.buf[:0], j...)
	}
	s.buf = append(s.buf, '\n')
	if _, err := s.w.Write(s.buf); err != nil && s.err == nil {
		s.err = err
	}
	s.n++
	return s.err
}

func (s *writerSink) Mark() uint64 { return s.n }

func (s *writerSink) Wait(context.Context, uint64) error {
	if err := s.w.Flush(); err != nil && s.err == nil {
		s.err = err
	}
	return s.err
}

func (s *writerSink) Close(ctx context.Context) error { return s.Wait(ctx, s.n) }

// collectSink keeps alerts in memory, for rule tests.
type collectSink struct {
	mu     sync.Mutex
	alerts []*alert.Alert
}

func (s *collectSink) Send(_ context.Context, a *alert.Alert) error {
	s.mu.Lock()
	s.alerts = append(s.alerts, a)
	s.mu.Unlock()
	return nil
}
func (s *collectSink) Mark() uint64                       { return 0 }
func (s *collectSink) Wait(context.Context, uint64) error { return nil }
func (s *collectSink) Close(context.Context) error        { return nil }

// routerSink hands alerts to the configured SIEM sinks.
type routerSink struct {
	r *siem.Router
}

func (s routerSink) Send(ctx context.Context, a *alert.Alert) error { return s.r.Send(ctx, a) }
func (s routerSink) Mark() uint64                                   { return s.r.Mark() }
func (s routerSink) Wait(ctx context.Context, mark uint64) error    { return s.r.Wait(ctx, mark) }
func (s routerSink) Close(ctx context.Context) error                { return s.r.Stop(ctx) }
