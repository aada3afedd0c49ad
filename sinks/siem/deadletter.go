package siem

import (
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cep-project/cep/internal/jsonx"
	"github.com/cep-project/cep/sinks/siem/transport"
)

// DeadLetterFile is the name, inside a sink's spool dir, of the JSON-lines
// file of alerts the destination rejected for good (such as a 400 for a
// mapping conflict). Each line has time, sink, id, reason and record (the
// formatted alert, as a string), so an operator can fix the cause and
// replay them.
const DeadLetterFile = "dead-letter.jsonl"

type deadLetter struct {
	mu sync.Mutex
	f  *os.File
}

func openDeadLetter(dir string) (*deadLetter, error) {
	f, err := os.OpenFile(filepath.Join(dir, DeadLetterFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	return &deadLetter{f: f}, nil
}

func (d *deadLetter) write(now time.Time, sink string, batch []transport.Record, reason string) error {
	var b []byte
	for _, r := range batch {
		b = append(b, `{"time":`...)
		b = jsonx.AppendTime(b, now.UTC())
		b = append(b, `,"sink":`...)
		b = jsonx.AppendString(b, sink)
		b = append(b, `,"id":`...)
		b = jsonx.AppendString(b, r.ID)
		b = append(b, `,"reason":`...)
		b = jsonx.AppendString(b, reason)
		b = append(b, `,"record":`...)
		b = jsonx.AppendString(b, string(r.Body))
		b = append(b, "}\n"...)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.f.Write(b); err != nil {
		return err
	}
	return d.f.Sync()
}

func (d *deadLetter) close() { d.f.Close() }
