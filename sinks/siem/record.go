package siem

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/sinks/siem/transport"
)

// recordVersion tags the spool encoding of a record, so a spool written by
// an older cep can be told apart if the encoding ever grows.
const recordVersion = 1

// marshalRecord appends r's spool encoding: a version byte, then id, key
// and severity as length-prefixed strings, the time as a varint, and the
// body to the end.
func marshalRecord(dst []byte, r *transport.Record) []byte {
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
func unmarshalRecord(b []byte) (transport.Record, error) {
	var r transport.Record
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
