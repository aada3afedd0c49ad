package siem

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cep-project/cep/internal/seal"
	"github.com/cep-project/cep/sinks/siem/transport"
)

func testKey(t *testing.T, b byte) *seal.Key {
	t.Helper()
	k, err := seal.NewKey(bytes.Repeat([]byte{b}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestDeadLetterSealed: with spool.encryption a dead letter's record (the
// formatted alert, raw events and all) is sealed on disk, opens with the
// key, is refused by the key's id without it, and does not open on
// another line.
func TestDeadLetterSealed(t *testing.T) {
	dir := t.TempDir()
	keys := seal.NewKeyring(testKey(t, 1))
	d, err := openDeadLetter(dir, keys)
	if err != nil {
		t.Fatal(err)
	}
	recs := []transport.Record{{ID: "a1", Body: []byte(`{"card":"4111111111111111"}`)}, {ID: "a2", Body: []byte(`{"n":2}`)}}
	if err := d.write(time.Unix(0, 0), "es", recs, "mapper_parsing_exception"); err != nil {
		t.Fatal(err)
	}
	d.close()
	raw, err := os.ReadFile(filepath.Join(dir, DeadLetterFile))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte("4111")) || !bytes.Contains(raw, []byte(`"record_sealed"`)) || !bytes.Contains(raw, []byte(`"id":"a1"`)) {
		t.Fatalf("dead letters on disk: %s", raw)
	}
	var got []string
	if err := ReadDeadLetter(bytes.NewReader(raw), keys, func(d DeadLetter) error {
		got = append(got, d.ID+" "+d.Reason+" "+d.Record)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := `a1 mapper_parsing_exception {"card":"4111111111111111"}|a2 mapper_parsing_exception {"n":2}`; strings.Join(got, "|") != want {
		t.Errorf("read %q, want %q", got, want)
	}
	nop := func(DeadLetter) error { return nil }
	id := keys.Primary().ID()
	if err := ReadDeadLetter(bytes.NewReader(raw), nil, nop); err == nil || !strings.Contains(err.Error(), id) {
		t.Errorf("without a key: %v, want the key id %s named", err, id)
	}
	if err := ReadDeadLetter(bytes.NewReader(raw), seal.NewKeyring(testKey(t, 2)), nop); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("with another key: %v, want an error at line 1", err)
	}
	moved := bytes.Replace(raw, []byte(`"id":"a1"`), []byte(`"id":"a9"`), 1)
	if err := ReadDeadLetter(bytes.NewReader(moved), keys, nop); err == nil {
		t.Error("a sealed record opened under another alert id")
	}
}

// TestDeadLetterPlain: without encryption the record is plain, as before.
func TestDeadLetterPlain(t *testing.T) {
	dir := t.TempDir()
	d, err := openDeadLetter(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.write(time.Unix(0, 0), "s", []transport.Record{{ID: "x", Body: []byte("CEF:0|a")}}, "rejected"); err != nil {
		t.Fatal(err)
	}
	d.close()
	raw, _ := os.ReadFile(filepath.Join(dir, DeadLetterFile))
	var got DeadLetter
	if err := ReadDeadLetter(bytes.NewReader(raw), nil, func(d DeadLetter) error { got = d; return nil }); err != nil || got.Record != "CEF:0|a" {
		t.Errorf("plain dead letter %+v: %v (%s)", got, err, raw)
	}
}
