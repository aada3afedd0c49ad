// Package state keeps checkpoints: consistent cuts of a runtime's detector
// state together with the position of every source, so that a restarted
// cep resumes exactly where the last checkpoint left off.
//
// A checkpoint is written through a Tx and becomes visible only when the
// Tx commits; a reader never sees a half-written one. The runtime commits a
// checkpoint only after every alert its events produced has been delivered
// or spooled, which is what makes a crash lose no alert (see
// docs/ARCHITECTURE.md, "State and checkpoints").
//
// The store interface is small so that a local directory (Dir) and Redis
// implement it alike. Entries are opaque bytes grouped by scope (an engine
// part, a rule) and key (an entity); their owners version their contents.
package state

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Meta describes a checkpoint.
type Meta struct {
	// ID increases by one with every checkpoint a runtime commits.
	ID uint64
	// Created is the wall-clock time the checkpoint was taken; it is
	// informational only.
	Created time.Time
	// Writer names the program version that wrote it.
	Writer string
	// Positions are where every source resumes.
	Positions []Position
}

// Position is where one source resumes. Data is the source's own encoding
// (a file's identity and offset, a Kafka partition's offset).
type Position struct {
	Source string
	Data   []byte
}

// Entry is one piece of state.
type Entry struct {
	// Scope groups the entries of one owner: "engine", "rule/<id>", ….
	Scope string
	// Key tells entries of one scope apart (an entity key, or a part name).
	Key   string
	Value []byte
	// TTL, when positive, is how long the entry may go unchanged before a
	// store may expire it: its owner would have dropped it by then.
	TTL time.Duration
}

// Store keeps checkpoints.
type Store interface {
	// Begin starts writing checkpoint m. Nothing of it is visible until
	// the Tx commits.
	Begin(ctx context.Context, m Meta) (Tx, error)
	// Latest opens the newest valid checkpoint, or returns nil, nil when
	// there is none. A checkpoint that fails its checksum is skipped for an
	// older one, and said so through the store's logger.
	Latest(ctx context.Context) (Snapshot, error)
}

// Tx is a checkpoint being written.
type Tx interface {
	Put(e Entry) error
	// Commit makes the checkpoint durable and the newest. When it returns
	// nil, a crash can no longer lose it.
	Commit(ctx context.Context) error
	// Abort discards the checkpoint; it is safe after Commit.
	Abort()
}

// Snapshot is a checkpoint being read.
type Snapshot interface {
	Meta() Meta
	// Entries calls f with every entry; a scope's first-written entry
	// comes before its others. A Dir hands them out in the order they were
	// written; Redis groups each scope's entries, scopes in the order they
	// were first written, the first-written entry first and the rest by
	// key.
	Entries(f func(Entry) error) error
	Close() error
}

// FormatVersion is the version of the checkpoint format this build
// writes. It reads every version from MinFormatVersion up to it.
const (
	FormatVersion    = 1
	MinFormatVersion = 1
)

// VersionError is a checkpoint in a format this build cannot read.
type VersionError struct {
	Name    string
	Version int
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("checkpoint %s is in format version %d; this cep reads versions %d to %d: run the cep that wrote it, or move the state away to start empty",
		e.Name, e.Version, MinFormatVersion, FormatVersion)
}

// ErrCorrupt marks a checkpoint whose bytes do not check out.
var ErrCorrupt = errors.New("checkpoint is corrupt")

// ErrKey marks an encrypted checkpoint the configured keys cannot open: a
// missing or wrong key is said, never taken for damage, and an older
// checkpoint is not restored in its place.
var ErrKey = errors.New("checkpoint key")
