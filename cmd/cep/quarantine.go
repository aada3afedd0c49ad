package main

import (
	"bufio"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/jsonx"
)

// quarantineFile writes events set aside for an unbelievable time as JSON
// lines: where they came from, why, and the original line as a string.
type quarantineFile struct {
	mu  sync.Mutex
	f   *os.File
	w   *bufio.Writer
	buf []byte
	err error
}

func openQuarantine(path string) (*quarantineFile, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	return &quarantineFile{f: f, w: bufio.NewWriter(f)}, nil
}

func (q *quarantineFile) write(ev *event.Event, why string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	b := append(q.buf[:0], `{"stream":`...)
	b = jsonx.AppendString(b, ev.Stream)
	b = append(b, `,"line":`...)
	b = strconv.AppendInt(b, int64(ev.Line), 10)
	b = append(b, `,"id":`...)
	b = jsonx.AppendString(b, ev.ID)
	b = append(b, `,"time":`...)
	b = jsonx.AppendTime(b, time.Unix(0, ev.Time).UTC())
	b = append(b, `,"why":`...)
	b = jsonx.AppendString(b, why)
	b = append(b, `,"event":`...)
	b = jsonx.AppendString(b, string(ev.Raw))
	b = append(b, "}\n"...)
	q.buf = b
	if _, err := q.w.Write(b); err != nil && q.err == nil {
		q.err = err
	}
}

func (q *quarantineFile) close() error {
	if q == nil {
		return nil
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if err := q.w.Flush(); err != nil && q.err == nil {
		q.err = err
	}
	if err := q.f.Close(); err != nil && q.err == nil {
		q.err = err
	}
	return q.err
}
