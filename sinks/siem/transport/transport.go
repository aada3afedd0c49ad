// Package transport is the contract between the sink core (sinks/siem) and
// the packages that carry formatted alerts to one kind of destination:
// transport/hec, transport/elastic, transport/syslog, transport/webhook,
// transport/kafka and transport/file. A transport is one package that
// registers a Kind at init; the core looks kinds up by the sink's `type:`
// and never lists them. The plugin shape is that of OPA's plugins and
// Benthos' outputs: the configuration block is decoded into the kind's
// Config and validated (every problem at once, with key paths), the
// transport is constructed, started (where the destination can be checked
// up front), sent batches, and closed.
//
// The core owns batching, retries with backoff, the circuit breaker, the
// spool and the dead-letter file; a transport makes one attempt per Send
// and tells, through the error it returns, what became of each record.
package transport

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cep-project/cep/alert"
)

// Record is one alert ready for a transport: formatted, with the few values
// transports need beside the body (the id for idempotent writes and
// signatures, the key for partitioning, the time and severity for envelopes
// and syslog headers). Records, not alerts, go to the spool, so that a
// restart delivers exactly the bytes that were formatted and masked when
// the alert was accepted.
type Record struct {
	ID   string
	Key  string
	Time int64 // Unix nanoseconds
	Sev  alert.Severity
	Body []byte
}

// EventTime returns the alert's event time in UTC.
func (r *Record) EventTime() time.Time { return time.Unix(0, r.Time).UTC() }

// Transport writes batches of records to one destination. The core calls
// it from one goroutine: Start once, then Send any number of times, then
// Close.
//
// Send reports the fate of the batch through its error: nil when every
// record was delivered; a permanent error (Permanent) when the destination
// rejected the whole batch for a reason that retrying cannot fix (the
// records go to the dead-letter file); an *ItemsError when records fared
// differently; any other error when the whole batch may be retried. The
// context carries the sink's timeout.
type Transport interface {
	// Start checks what can be checked before the first alert (a file sink
	// opens its file) and fails with a clear error when the destination
	// cannot work at all. A destination that is merely down is not an
	// error here: the spool exists for that.
	Start(ctx context.Context) error
	Send(ctx context.Context, batch []Record) error
	Close() error
}

// Config is a kind's configuration block, decoded from the YAML key named
// like the kind (splunk_hec: {...}) with unknown keys rejected.
type Config interface {
	// Validate reports every problem with the block, each error starting
	// with its key relative to the block ("url: required").
	Validate(s Settings) []error
}

// PathResolver is implemented by configs that name files, so that a
// program can make relative paths relative to its config file.
type PathResolver interface {
	ResolvePaths(resolve func(path string) string)
}

// Settings are the sink-level values a transport may depend on.
type Settings struct {
	// Name is the sink's name.
	Name string
	// Format is the format name; JSON tells whether it writes JSON objects.
	Format string
	JSON   bool
	// Timeout bounds each call; BatchMaxAlerts is the most records in one
	// Send.
	Timeout        time.Duration
	BatchMaxAlerts int
}

// Env is what a transport gets from the process and the core beside its
// configuration.
type Env struct {
	Settings
	Logger *slog.Logger
	Clock  Clock
	// Stdout is where a stdout sink writes.
	Stdout io.Writer
	// Truncated counts alerts a transport had to cut to fit the
	// destination (cep_sink_truncated_total).
	Truncated func(n int)
}

// Body says what a transport wants as a record's body.
type Body int

const (
	// Formatted records carry the alert in the sink's format.
	Formatted Body = iota
	// AlertJSON records carry the (masked) alert in the JSON contract,
	// whatever the format: a webhook renders its request body from the
	// alert at send time.
	AlertJSON
)

// Kind is a registered transport.
type Kind struct {
	// Name is the sink `type:` and the key of the kind's config block.
	Name string
	// NewConfig returns an empty configuration to decode the block into (a
	// pointer to a struct). Nil for a kind that takes no block (stdout).
	NewConfig func() Config
	// New constructs the transport; cfg is the decoded, validated block
	// (nil when NewConfig is nil).
	New func(cfg Config, env Env) (Transport, error)
	// Body is what the kind wants in Record.Body.
	Body Body
	// Shadow lets alerts of experimental rules through when a sink asks
	// (include_shadow); only local outputs (file, stdout) should allow it,
	// so that shadow alerts never reach a SIEM.
	Shadow bool
	// DefaultBatch is the batch.max_alerts default; 0 means the core's.
	DefaultBatch int
	// FieldNames, when set, rewrites the member names that JSON formats
	// take from alerts (fields, key expressions, evidence events) into
	// names the destination accepts.
	FieldNames func(name string) string
}

// Typed makes the Kind of a transport whose block decodes into a C (its
// Config methods on *C) and whose constructor takes the decoded block by
// value. Set the other fields of the result before Register.
func Typed[C any, P interface {
	*C
	Config
}, T Transport](name string, construct func(cfg C, env Env) (T, error)) Kind {
	return Kind{
		Name:      name,
		NewConfig: func() Config { return P(new(C)) },
		New: func(c Config, env Env) (Transport, error) {
			return construct(*c.(P), env)
		},
	}
}

var (
	regMu sync.RWMutex
	reg   = map[string]Kind{}
	order []string
)

// Register makes a transport kind available. It panics on a second
// registration of a name, a programming error found at start.
func Register(k Kind) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := reg[k.Name]; dup {
		panic("transport: " + k.Name + " registered twice")
	}
	if k.New == nil {
		panic("transport: " + k.Name + " has no constructor")
	}
	reg[k.Name] = k
	order = append(order, k.Name)
}

// Lookup returns the kind registered as name.
func Lookup(name string) (Kind, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	k, ok := reg[name]
	return k, ok
}

// Kinds lists the registered kinds in the order they registered.
func Kinds() []Kind {
	regMu.RLock()
	defer regMu.RUnlock()
	out := make([]Kind, len(order))
	for i, n := range order {
		out[i] = reg[n]
	}
	return out
}

// Names lists the registered kind names, sorted.
func Names() []string {
	regMu.RLock()
	defer regMu.RUnlock()
	return slices.Sorted(slices.Values(order))
}

// Generation changes whenever a kind registers, so that a cache built
// over the kinds can tell it is stale.
func Generation() int {
	regMu.RLock()
	defer regMu.RUnlock()
	return len(order)
}

// Prefix puts a key path in front of every error: "splunk_hec" and
// "url: required" make "splunk_hec.url: required". Errors made by AtSink
// keep their sink-level path.
func Prefix(p string, errs []error) []error {
	for i, e := range errs {
		if s, ok := e.(sinkKeyError); ok {
			errs[i] = s.err
			continue
		}
		errs[i] = fmt.Errorf("%s.%w", p, e)
	}
	return errs
}

// sinkKeyError is a block's complaint about a sink-level key.
type sinkKeyError struct{ err error }

func (e sinkKeyError) Error() string { return e.err.Error() }
func (e sinkKeyError) Unwrap() error { return e.err }

// AtSink marks a validation error about a key of the sink rather than of
// the block ("format: …"), so that it is reported under that key.
func AtSink(err error) error { return sinkKeyError{err: err} }
