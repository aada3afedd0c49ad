package siem

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cep-project/cep/internal/jsonx"
	"github.com/cep-project/cep/internal/seal"
	"github.com/cep-project/cep/sinks/siem/transport"
)

// DeadLetterFile is the name, inside a sink's spool dir, of the JSON-lines
// file of alerts the destination rejected for good (such as a 400 for a
// mapping conflict). Each line has time, sink, id, reason and record (the
// formatted alert, as a string), so an operator can fix the cause and
// replay them. With spool.encryption the record is sealed instead
// (record_sealed: the base64 of its envelope, bound to the sink and the
// alert id); ReadDeadLetter, behind `cep dead-letter`, opens it.
const DeadLetterFile = "dead-letter.jsonl"

type deadLetter struct {
	mu   sync.Mutex
	f    *os.File
	keys *seal.Keyring
}

func openDeadLetter(dir string, keys *seal.Keyring) (*deadLetter, error) {
	f, err := os.OpenFile(filepath.Join(dir, DeadLetterFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	return &deadLetter{f: f, keys: keys}, nil
}

// deadLetterAAD binds a sealed record to its sink and alert, so that a
// record moved to another line does not open.
func deadLetterAAD(sink, id string) []byte { return []byte("cep dead letter\x00" + sink + "\x00" + id) }

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
		if d.keys != nil {
			b = append(b, `,"record_sealed":`...)
			b = jsonx.AppendString(b, base64.StdEncoding.EncodeToString(d.keys.Seal(nil, r.Body, deadLetterAAD(sink, r.ID))))
		} else {
			b = append(b, `,"record":`...)
			b = jsonx.AppendString(b, string(r.Body))
		}
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

// DeadLetter is one line of a dead-letter file, its record opened.
type DeadLetter struct {
	Time   time.Time `json:"time"`
	Sink   string    `json:"sink"`
	ID     string    `json:"id"`
	Reason string    `json:"reason"`
	Record string    `json:"record"`
	Sealed string    `json:"record_sealed,omitempty"`
}

// ReadDeadLetter calls fn with every line of a dead-letter file, sealed
// records opened with keys (nil: the file must hold none). An error names
// the line: a record sealed under a key keys lacks is refused by the key's
// id, never misread.
func ReadDeadLetter(r io.Reader, keys *seal.Keyring, fn func(DeadLetter) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		var d DeadLetter
		if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		if d.Sealed != "" {
			env, err := base64.StdEncoding.DecodeString(d.Sealed)
			if err != nil {
				return fmt.Errorf("line %d: record_sealed: %w", n, err)
			}
			if keys == nil {
				id, _ := seal.EnvelopeKeyID(env)
				return fmt.Errorf("line %d: the record is sealed under key %s, and spool.encryption is not configured", n, id)
			}
			rec, err := keys.Open(nil, env, deadLetterAAD(d.Sink, d.ID))
			if err != nil {
				return fmt.Errorf("line %d: %w", n, err)
			}
			d.Record, d.Sealed = string(rec), ""
		}
		if err := fn(d); err != nil {
			return err
		}
	}
	return sc.Err()
}
