package transport

import (
	"errors"
	"fmt"
	"strings"
)

// permanentError is a rejection that retrying cannot fix, such as an HTTP
// 400 for a malformed document.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as a rejection that retrying cannot fix: the records
// go to the dead-letter file.
func Permanent(err error) error { return &permanentError{err: err} }

// Permanentf is Permanent(fmt.Errorf(format, args...)).
func Permanentf(format string, args ...any) error { return Permanent(fmt.Errorf(format, args...)) }

// IsPermanent tells whether err was marked Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// ItemFailure is the fate of one record of a batch that did not fully
// succeed.
type ItemFailure struct {
	// Index is the record's position in the batch.
	Index int
	// Retry tells whether the record may be sent again; if not, it goes to
	// the dead-letter file.
	Retry bool
	// Reason says why, for the dead-letter file and the logs.
	Reason string
}

// ItemsError lists the records of a batch that failed; the others were
// delivered. Elasticsearch's bulk API, per-alert webhooks and UDP syslog
// report this way.
type ItemsError struct{ Items []ItemFailure }

func (e *ItemsError) Error() string {
	var retry, reject int
	for _, it := range e.Items {
		if it.Retry {
			retry++
		} else {
			reject++
		}
	}
	msg := fmt.Sprintf("%d records to retry, %d rejected", retry, reject)
	if len(e.Items) > 0 {
		msg += ": " + e.Items[0].Reason
	}
	return msg
}

// RetryableStatus tells whether an HTTP status may succeed if retried:
// throttling and server errors; also 408 and, because a rotated token is an
// operator's fix and not a reason to lose alerts, 401 and 403.
func RetryableStatus(code int) bool {
	switch {
	case code == 408, code == 429, code == 401, code == 403:
		return true
	case code >= 500:
		return true
	}
	return false
}

// StatusError is the error for an HTTP response that was not a success,
// permanent unless RetryableStatus says otherwise.
func StatusError(code int, body []byte) error {
	msg := strings.TrimSpace(string(body))
	if len(msg) > 512 {
		msg = msg[:512] + "…"
	}
	err := fmt.Errorf("HTTP %d: %s", code, msg)
	if RetryableStatus(code) {
		return err
	}
	return Permanent(err)
}
