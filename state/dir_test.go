package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func write(t testing.TB, d *Dir, id uint64, entries ...Entry) {
	t.Helper()
	ctx := context.Background()
	tx, err := d.Begin(ctx, Meta{ID: id, Created: time.Unix(1700000000, 0), Writer: "test",
		Positions: []Position{{Source: "payments", Data: []byte(fmt.Sprintf("offset=%d", id))}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := tx.Put(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
}

func readAll(t testing.TB, d *Dir) (Meta, []Entry) {
	t.Helper()
	snap, err := d.Latest(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if snap == nil {
		t.Fatal("no checkpoint")
	}
	defer snap.Close()
	var out []Entry
	if err := snap.Entries(func(e Entry) error { out = append(out, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return snap.Meta(), out
}

func TestDirRoundTrip(t *testing.T) {
	d := &Dir{Path: t.TempDir()}
	if snap, err := d.Latest(context.Background()); err != nil || snap != nil {
		t.Fatalf("empty dir: %v, %v", snap, err)
	}
	want := []Entry{
		{Scope: "engine", Key: "reorder", Value: []byte{1, 2, 3}},
		{Scope: "rule/fraud.x", Key: `["c-1"]`, Value: bytes.Repeat([]byte("x"), 300000)},
		{Scope: "rule/fraud.x", Key: "", Value: nil},
	}
	write(t, d, 7, want...)
	m, got := readAll(t, d)
	if m.ID != 7 || m.Writer != "test" || len(m.Positions) != 1 || string(m.Positions[0].Data) != "offset=7" {
		t.Errorf("meta = %+v", m)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d entries, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].Scope != want[i].Scope || got[i].Key != want[i].Key || !bytes.Equal(got[i].Value, want[i].Value) {
			t.Errorf("entry %d = %q/%q (%d bytes), want %q/%q (%d bytes)", i, got[i].Scope, got[i].Key, len(got[i].Value), want[i].Scope, want[i].Key, len(want[i].Value))
		}
	}
}

func TestDirKeepsNewestAndPrunes(t *testing.T) {
	d := &Dir{Path: t.TempDir(), Keep: 2}
	for id := uint64(1); id <= 5; id++ {
		write(t, d, id, Entry{Scope: "s", Key: "k", Value: []byte{byte(id)}})
	}
	ids, err := d.ids()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids) != "[5 4]" {
		t.Errorf("kept %v, want [5 4]", ids)
	}
	if m, _ := readAll(t, d); m.ID != 5 {
		t.Errorf("latest = %d, want 5", m.ID)
	}
}

func TestDirAbortLeavesNothing(t *testing.T) {
	d := &Dir{Path: t.TempDir()}
	write(t, d, 1, Entry{Scope: "s", Key: "k", Value: []byte("one")})
	tx, err := d.Begin(context.Background(), Meta{ID: 2})
	if err != nil {
		t.Fatal(err)
	}
	_ = tx.Put(Entry{Scope: "s", Key: "k", Value: []byte("two")})
	tx.Abort()
	ents, _ := os.ReadDir(d.Path)
	if len(ents) != 1 {
		t.Errorf("files after abort: %v", ents)
	}
	if _, got := readAll(t, d); string(got[0].Value) != "one" {
		t.Errorf("latest value %q, want one", got[0].Value)
	}
}

// A flipped byte or a torn write in the newest checkpoint falls back to
// the one before it; the bad file is never half applied.
func TestDirCorruptFallsBack(t *testing.T) {
	for _, damage := range []struct {
		name string
		do   func([]byte) []byte
	}{
		{"flipped byte", func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b }},
		{"torn tail", func(b []byte) []byte { return b[:len(b)-7] }},
		{"truncated to header", func(b []byte) []byte { return b[:9] }},
		{"extra bytes", func(b []byte) []byte { return append(b, 0) }},
	} {
		t.Run(damage.name, func(t *testing.T) {
			d := &Dir{Path: t.TempDir()}
			write(t, d, 1, Entry{Scope: "s", Key: "k", Value: []byte("old")})
			write(t, d, 2, Entry{Scope: "s", Key: "k", Value: bytes.Repeat([]byte("new"), 100)})
			name := d.name(2)
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, damage.do(b), 0o600); err != nil {
				t.Fatal(err)
			}
			m, got := readAll(t, d)
			if m.ID != 1 || string(got[0].Value) != "old" {
				t.Errorf("got checkpoint %d %q, want 1 old", m.ID, got[0].Value)
			}
		})
	}
}

func TestDirAllCorrupt(t *testing.T) {
	d := &Dir{Path: t.TempDir()}
	write(t, d, 1, Entry{Scope: "s", Key: "k", Value: []byte("v")})
	if err := os.WriteFile(d.name(1), []byte("CEPCKPT\ngarbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := d.Latest(context.Background())
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("err = %v, want ErrCorrupt", err)
	}
}

// A checkpoint from a newer format is refused by name, never misread.
func TestDirRefusesUnknownVersion(t *testing.T) {
	d := &Dir{Path: t.TempDir()}
	write(t, d, 3, Entry{Scope: "s", Key: "k", Value: []byte("v")})
	b, err := os.ReadFile(d.name(3))
	if err != nil {
		t.Fatal(err)
	}
	b[len(magic)] = FormatVersion + 1
	// A newer writer's file has a valid checksum of its own.
	b = b[:len(b)-4]
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	if err := os.WriteFile(d.name(3), b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = d.Latest(context.Background())
	var ve *VersionError
	if !errors.As(err, &ve) || ve.Version != FormatVersion+1 {
		t.Fatalf("err = %v, want a VersionError", err)
	}
	if want := filepath.Base(d.name(3)); !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Errorf("error %q does not name the file", err)
	}
}

// FuzzReadCheckpoint: whatever the bytes, reading fails cleanly or yields
// what a writer could have written; it never panics or allocates without
// bound.
func FuzzReadCheckpoint(f *testing.F) {
	dir := f.TempDir()
	d := &Dir{Path: dir}
	write(f, d, 1, Entry{Scope: "engine", Key: "k", Value: []byte("value")}, Entry{Scope: "rule/x", Key: "", Value: nil})
	seed, err := os.ReadFile(d.name(1))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(magic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		// The structure alone, past the checksum, must fail cleanly too.
		_ = readEntries(bytes.NewReader(b), int64(len(b)), "fuzz", nil, func(Entry) error { return nil })
		m, err := verify(bytes.NewReader(b), int64(len(b)), "fuzz", nil)
		if err != nil {
			return
		}
		n := 0
		err = readEntries(bytes.NewReader(b), int64(len(b)), "fuzz", nil, func(Entry) error { n++; return nil })
		if err != nil {
			t.Fatalf("verified checkpoint %d does not read back: %v", m.ID, err)
		}
	})
}
