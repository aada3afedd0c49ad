package state

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cep-project/cep/internal/seal"
)

// DefaultKeep is how many committed checkpoints a Dir keeps: the newest,
// and one before it in case the newest turns out unreadable.
const DefaultKeep = 2

// Dir keeps checkpoints as files in a directory: each is written to a
// temporary file, synced, and renamed into place, so a crash leaves the
// previous checkpoint whole. Older checkpoints beyond Keep are deleted.
type Dir struct {
	Path string
	// Keep is the number of checkpoints kept; 0 means DefaultKeep.
	Keep int
	Log  *slog.Logger
	// Keys, when set, encrypt the entries of new checkpoints with their
	// primary key and open those written with any of them; a checkpoint
	// sealed with a key it lacks is refused by the key's id.
	Keys *seal.Keyring
}

const (
	ckptPrefix = "checkpoint-"
	ckptSuffix = ".ckpt"
)

func (d *Dir) name(id uint64) string {
	return filepath.Join(d.Path, fmt.Sprintf("%s%020d%s", ckptPrefix, id, ckptSuffix))
}

func (d *Dir) logger() *slog.Logger {
	if d.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return d.Log
}

// ids lists the committed checkpoints, newest first.
func (d *Dir) ids() ([]uint64, error) {
	ents, err := os.ReadDir(d.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, e := range ents {
		n := e.Name()
		if !strings.HasPrefix(n, ckptPrefix) || !strings.HasSuffix(n, ckptSuffix) {
			continue
		}
		id, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(n, ckptPrefix), ckptSuffix), 10, 64)
		if err != nil {
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	return ids, nil
}

// Begin implements Store.
func (d *Dir) Begin(_ context.Context, m Meta) (Tx, error) {
	if err := os.MkdirAll(d.Path, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	f, err := os.CreateTemp(d.Path, ".tmp-checkpoint-*")
	if err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	tx := &dirTx{d: d, f: f, id: m.ID, enc: newEncoder(f)}
	if d.Keys != nil {
		tx.enc.key = d.Keys.Primary()
	}
	tx.enc.header(m)
	return tx, nil
}

type dirTx struct {
	d    *Dir
	f    *os.File
	id   uint64
	enc  *encoder
	done bool
}

func (t *dirTx) Put(e Entry) error {
	t.enc.entry(e)
	return t.enc.err
}

func (t *dirTx) Commit(context.Context) error {
	if t.done {
		return errors.New("checkpoint already committed or aborted")
	}
	err := t.enc.finish()
	if err == nil {
		err = t.f.Sync()
	}
	if cerr := t.f.Close(); err == nil {
		err = cerr
	}
	t.done = true
	if err == nil {
		err = os.Rename(t.f.Name(), t.d.name(t.id))
	}
	if err == nil {
		err = syncDir(t.d.Path)
	}
	if err != nil {
		_ = os.Remove(t.f.Name())
		return fmt.Errorf("writing checkpoint %d: %w", t.id, err)
	}
	t.d.prune()
	return nil
}

func (t *dirTx) Abort() {
	if t.done {
		return
	}
	t.done = true
	_ = t.f.Close()
	_ = os.Remove(t.f.Name())
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// prune deletes checkpoints beyond Keep, and temporary files a crash left.
func (d *Dir) prune() {
	keep := d.Keep
	if keep <= 0 {
		keep = DefaultKeep
	}
	ids, err := d.ids()
	if err != nil {
		return
	}
	for _, id := range ids[min(keep, len(ids)):] {
		if err := os.Remove(d.name(id)); err != nil {
			d.logger().Warn("removing an old checkpoint", "error", err)
		}
	}
}

// Latest implements Store.
func (d *Dir) Latest(context.Context) (Snapshot, error) {
	ids, err := d.ids()
	if err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	for _, id := range ids {
		name := d.name(id)
		m, err := d.check(name)
		var ve *VersionError
		if errors.As(err, &ve) || errors.Is(err, ErrKey) {
			return nil, err
		}
		if err != nil {
			d.logger().Error("checkpoint unreadable: trying an older one", "file", name, "error", err)
			continue
		}
		return &dirSnapshot{name: name, meta: m, keys: d.Keys}, nil
	}
	if len(ids) > 0 {
		return nil, fmt.Errorf("%w: no checkpoint in %s checks out (%d tried); move them away to start with an empty state", ErrCorrupt, d.Path, len(ids))
	}
	return nil, nil
}

func (d *Dir) check(name string) (Meta, error) {
	f, err := os.Open(name)
	if err != nil {
		return Meta{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Meta{}, err
	}
	return verify(f, st.Size(), name, d.Keys)
}

type dirSnapshot struct {
	name string
	meta Meta
	keys *seal.Keyring
}

func (s *dirSnapshot) Meta() Meta { return s.meta }

func (s *dirSnapshot) Entries(f func(Entry) error) error {
	file, err := os.Open(s.name)
	if err != nil {
		return err
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return err
	}
	// Latest verified the file; the sum is checked again at the end of
	// this read, which catches a file changed in between (too late to undo
	// what f did, but never silently).
	return readEntries(file, st.Size(), s.name, s.keys, f)
}

func readEntries(r io.Reader, size int64, name string, keys *seal.Keyring, f func(Entry) error) error {
	d := newDecoder(r, size, name, keys)
	if _, err := d.header(); err != nil {
		return err
	}
	for d.entry(f) {
	}
	if d.err != nil {
		return d.err
	}
	return d.trailer()
}

func (s *dirSnapshot) Close() error { return nil }
