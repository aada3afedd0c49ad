package siem

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// transport writes batches of records to one destination. send is called
// from the sink's single sender goroutine, with a context that carries the
// sink's timeout.
//
// send reports the fate of the batch through its error: nil when every
// record was delivered; a *permanentError when the destination rejected the
// whole batch for a reason that retrying cannot fix (the records go to the
// dead-letter file); an *itemsError when records fared differently; any
// other error when the whole batch may be retried.
type transport interface {
	send(ctx context.Context, batch []record) error
	close() error
}

// permanentError is a rejection that retrying cannot fix, such as an HTTP
// 400 for a malformed document.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return &permanentError{err: err} }

func permanentf(format string, args ...any) error { return permanent(fmt.Errorf(format, args...)) }

// itemFailure is the fate of one record of a batch that did not fully
// succeed.
type itemFailure struct {
	index  int
	retry  bool
	reason string
}

// itemsError lists the records of a batch that failed; the others were
// delivered. Elasticsearch's bulk API and per-alert webhooks report this
// way.
type itemsError struct{ items []itemFailure }

func (e *itemsError) Error() string {
	var retry, reject int
	for _, it := range e.items {
		if it.retry {
			retry++
		} else {
			reject++
		}
	}
	msg := fmt.Sprintf("%d records to retry, %d rejected", retry, reject)
	if len(e.items) > 0 {
		msg += ": " + e.items[0].reason
	}
	return msg
}

// retryable tells whether an HTTP status may succeed if retried: throttling
// and server errors; also 408 and, because a rotated token is an operator's
// fix and not a reason to lose alerts, 401 and 403.
func retryableStatus(code int) bool {
	switch {
	case code == 408, code == 429, code == 401, code == 403:
		return true
	case code >= 500:
		return true
	}
	return false
}

// statusError is an HTTP response that was not a success.
func statusError(code int, body []byte) error {
	msg := strings.TrimSpace(string(body))
	if len(msg) > 512 {
		msg = msg[:512] + "…"
	}
	err := fmt.Errorf("HTTP %d: %s", code, msg)
	if retryableStatus(code) {
		return err
	}
	return permanent(err)
}

var errBreakerOpen = errors.New("circuit breaker open")
