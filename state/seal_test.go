package state

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"strings"
	"testing"

	"github.com/cep-project/cep/internal/seal"
)

func testKey(t *testing.T, b byte) *seal.Key {
	t.Helper()
	k, err := seal.NewKey(bytes.Repeat([]byte{b}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// Checkpoints hold entity keys and raw events (card numbers, users): with
// a key configured, none of it is in the file in the clear, and a missing
// or wrong key is refused by name, never misread or skipped for an older
// checkpoint.
func TestDirEncryptedAtRest(t *testing.T) {
	k1, k2 := testKey(t, 1), testKey(t, 2)
	dir := t.TempDir()
	d := &Dir{Path: dir, Keys: seal.NewKeyring(k1)}
	secretEntry := Entry{Scope: "rule/fraud.x", Key: `["4111111111111111"]`, Value: []byte(`{"card":"4111111111111111"}`)}
	write(t, d, 1, secretEntry)
	raw, err := os.ReadFile(d.name(1))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("4111111111111111")) {
		t.Fatal("the card number is in the checkpoint file in the clear")
	}
	_, got := readAll(t, d)
	if len(got) != 1 || got[0].Key != secretEntry.Key || string(got[0].Value) != string(secretEntry.Value) {
		t.Fatalf("read back %+v", got)
	}

	for _, tt := range []struct {
		name string
		keys *seal.Keyring
	}{
		{"no key", nil},
		{"another key", seal.NewKeyring(k2)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := (&Dir{Path: dir, Keys: tt.keys}).Latest(context.Background())
			if !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), k1.ID()) {
				t.Errorf("err = %v, want a key error naming %s", err, k1.ID())
			}
		})
	}

	// After a rotation the old key still opens what it sealed.
	rotated := &Dir{Path: dir, Keys: seal.NewKeyring(k2, k1)}
	if _, got := readAll(t, rotated); len(got) != 1 {
		t.Fatalf("rotated keyring read %d entries", len(got))
	}
	write(t, rotated, 2, secretEntry)
	if _, err := (&Dir{Path: dir, Keys: seal.NewKeyring(k1)}).Latest(context.Background()); !errors.Is(err, ErrKey) {
		t.Errorf("a checkpoint sealed with the new key opened with the old one alone: %v", err)
	}
}

// A sealed entry moved to another place of the file does not open: each
// frame is bound to its checkpoint and its place.
func TestDirSealedEntriesAreBound(t *testing.T) {
	k := testKey(t, 3)
	var buf bytes.Buffer
	e := newEncoder(&buf)
	e.key = k
	e.header(Meta{ID: 1})
	if err := e.w.Flush(); err != nil {
		t.Fatal(err)
	}
	start := buf.Len()
	e.entry(Entry{Scope: "a", Key: "1", Value: []byte("one")})
	if err := e.w.Flush(); err != nil {
		t.Fatal(err)
	}
	mid := buf.Len()
	e.entry(Entry{Scope: "a", Key: "2", Value: []byte("two")})
	if err := e.finish(); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	end := mid + (mid - start)
	swapped := append(append(append(append([]byte{}, b[:start]...), b[mid:end]...), b[start:mid]...), b[end:len(b)-4]...)
	swapped = binary.LittleEndian.AppendUint32(swapped, crc32.Checksum(swapped, castagnoli))
	_, err := verify(bytes.NewReader(swapped), int64(len(swapped)), "x", seal.NewKeyring(k))
	if !errors.Is(err, ErrKey) {
		t.Errorf("swapped entries read back: err = %v", err)
	}
	if _, err := verify(bytes.NewReader(b), int64(len(b)), "x", seal.NewKeyring(k)); err != nil {
		t.Errorf("the untouched file does not verify: %v", err)
	}
}
