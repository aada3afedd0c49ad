// Package facts holds what rules remember about entities and the context
// other systems keep about them: sets of members per key ("the devices
// this user has used") and one value per key ("the country this card was
// last used in"), each with a time to live in event time, and read-only
// context hashes. A Memory store serves runs without Redis and rule tests;
// a Redis store shares facts across restarts and processes.
//
// Expiry is event time: a write made at event time t with ttl d lasts
// until t+d, and a read at event time u sees it while u < t+d. Reads take
// the event time of the event under evaluation, so the answer for a given
// stream of events does not depend on the wall clock.
package facts

import (
	"context"
	"errors"
	"time"
)

// Kind is the shape of a fact.
type Kind uint8

// The kinds of facts.
const (
	// Set facts hold many members per key; seen() asks for one member.
	Set Kind = iota + 1
	// Hash facts hold one value per key; fact() returns it.
	Hash
)

// String names the kind as rule files do.
func (k Kind) String() string {
	switch k {
	case Set:
		return "set"
	case Hash:
		return "hash"
	}
	return "unknown"
}

// Write is one remembered fact.
type Write struct {
	Kind Kind
	// Name is the fact's name (known_devices), Key the entity (a user),
	// Value the member of a set or the value of a hash.
	Name, Key, Value string
	// At is the event time of the write (Unix nanoseconds) and TTL how
	// long it lasts from then.
	At  int64
	TTL time.Duration
}

// Expiry is the event time at which the write lapses.
func (w Write) Expiry() int64 { return w.At + int64(w.TTL) }

// Store reads and writes facts. Reads take the event time they are made
// at (Unix nanoseconds). Implementations are safe for concurrent use.
type Store interface {
	// Seen reports whether member is in the set name of key at time at.
	Seen(name, key, member string, at int64) (bool, error)
	// Fact returns the value of the hash fact name of key at time at.
	Fact(name, key string, at int64) (value string, ok bool, err error)
	// Context returns the context hash name of id, maintained by other
	// systems; ok is false when there is none.
	Context(name, id string) (fields map[string]string, ok bool, err error)
	// Remember records a fact. It does not wait for a remote store: the
	// write is visible to this store's reads at once and reaches the
	// remote store with the next batch.
	Remember(w Write)
	// Flush writes every remembered fact to the remote store (or, with
	// OnError Unknown, gives up those it cannot write, counted).
	Flush(ctx context.Context) error
	// Stats returns the store's counters.
	Stats() Stats
	// Close flushes and releases the store.
	Close() error
}

// Stats count what a store did.
type Stats struct {
	// Lookups are Seen, Fact and Context calls; CacheHits those answered
	// from the local cache.
	Lookups, CacheHits uint64
	// Fetches are the keys read from the remote store, RoundTrips the
	// pipelined calls that read or wrote them.
	Fetches, RoundTrips uint64
	// Writes are remembered facts; Written those the remote store took.
	Writes, Written uint64
	// Errors are failed remote reads and writes; Unknown the lookups
	// answered as absent because of one (on_error: unknown); Dropped the
	// writes given up (on_error: unknown).
	Errors, Unknown, Dropped uint64
	// CacheEntries and CacheBytes are the local cache's size.
	CacheEntries, CacheBytes int64
}

// ErrClosed is returned by reads of a closed store.
var ErrClosed = errors.New("facts: the store is closed")

// OnError says what a lookup does when the remote store fails.
type OnError string

// The choices of on_error.
const (
	// Wait retries with backoff until the store answers (or is closed):
	// evaluation, and so consumption, stops while Redis is down, and no
	// answer is ever a guess.
	Wait OnError = "wait"
	// Unknown answers as absent at once and counts the lookup in
	// Stats.Unknown (cep_fact_errors_total); writes that fail are
	// dropped and counted.
	Unknown OnError = "unknown"
)
