package siem

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cep-project/cep/alert"
)

// record is one alert ready for a transport: formatted, with the few values
// transports need beside the body (the id for idempotent writes and
// signatures, the key for Kafka partitioning, the time and severity for
// envelopes and syslog headers). Records, not alerts, go to the spool, so
// that a restart delivers exactly the bytes that were formatted, masked
// once, under the configuration in force when the alert was accepted.
type record struct {
	ID   string
	Key  string
	Time int64 // Unix nanoseconds
	Sev  alert.Severity
	Body []byte
}

func (r *record) time() time.Time { return time.Unix(0, r.Time).UTC() }

// recordVersion tags the encoding, so a spool written by an older cep can
// be told apart if the encoding ever grows.
const recordVersion = 1

// marshal appends the record's spool encoding: a version byte, then id, key
// and severity as length-prefixed strings, the time as a varint, and the
// body to the end.
func (r *record) marshal(dst []byte) []byte {
	dst = append(dst, recordVersion)
	dst = appendLenString(dst, r.ID)
	dst = appendLenString(dst, r.Key)
	dst = appendLenString(dst, string(r.Sev))
	dst = binary.AppendVarint(dst, r.Time)
	return append(dst, r.Body...)
}

func appendLenString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

var errBadRecord = errors.New("malformed spool record")

// unmarshalRecord decodes a record; the body aliases b.
func unmarshalRecord(b []byte) (record, error) {
	var r record
	if len(b) == 0 || b[0] != recordVersion {
		return r, fmt.Errorf("%w: unknown version", errBadRecord)
	}
	b = b[1:]
	var s [3]string
	for i := range s {
		n, k := binary.Uvarint(b)
		if k <= 0 || n > uint64(len(b)-k) {
			return r, errBadRecord
		}
		s[i] = string(b[k : k+int(n)])
		b = b[k+int(n):]
	}
	t, k := binary.Varint(b)
	if k <= 0 {
		return r, errBadRecord
	}
	r.ID, r.Key, r.Sev, r.Time, r.Body = s[0], s[1], alert.Severity(s[2]), t, b[k:]
	return r, nil
}
