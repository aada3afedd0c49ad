package seal

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/cep-project/cep/internal/secret"
)

const (
	hexKey  = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	hexKey2 = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"
)

func mustKey(tb testing.TB, text string) *Key {
	tb.Helper()
	k, err := ParseKey(text)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestParseKey(t *testing.T) {
	k := mustKey(t, hexKey)
	b64 := mustKey(t, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")
	if k.ID() != b64.ID() || len(k.ID()) != 16 {
		t.Fatalf("ids %s %s", k.ID(), b64.ID())
	}
	if k.ID() == mustKey(t, hexKey2).ID() {
		t.Fatal("two keys, one id")
	}
	for _, bad := range []string{"", "00", hexKey + "00", "not a key", strings.Repeat("z", 64)} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestEnvelopeRoundTripAndRotation(t *testing.T) {
	old, cur := mustKey(t, hexKey), mustKey(t, hexKey2)
	before := NewKeyring(old)
	env := before.Seal(nil, []byte("card 4111111111111111"), []byte("ctx"))
	if bytes.Contains(env, []byte("4111")) || !IsSealed(env) {
		t.Fatal("plaintext visible or no magic")
	}
	if id, _ := EnvelopeKeyID(env); id != old.ID() {
		t.Fatalf("key id %s", id)
	}
	// After rotation the old key still opens old data; new data uses the
	// new key.
	after := NewKeyring(cur, old)
	got, err := after.Open(nil, env, []byte("ctx"))
	if err != nil || string(got) != "card 4111111111111111" {
		t.Fatalf("%q %v", got, err)
	}
	if id, _ := EnvelopeKeyID(after.Seal(nil, []byte("x"), nil)); id != cur.ID() {
		t.Fatalf("sealed with %s", id)
	}
}

// A missing or wrong key, other context, or a changed byte: an error that
// names the key, never a misread.
func TestOpenFailsClearly(t *testing.T) {
	k := mustKey(t, hexKey)
	env := NewKeyring(k).Seal(nil, []byte("secret payload"), []byte("ctx"))
	if _, err := NewKeyring(mustKey(t, hexKey2)).Open(nil, env, []byte("ctx")); !errors.Is(err, ErrUnknownKey) || !strings.Contains(err.Error(), k.ID()) {
		t.Errorf("missing key: %v", err)
	}
	if _, err := NewKeyring(k).Open(nil, env, []byte("other")); !errors.Is(err, ErrAuth) {
		t.Errorf("other context: %v", err)
	}
	for i := len(Magic) + 1 + len(k.ID()); i < len(env); i++ {
		bad := bytes.Clone(env)
		bad[i] ^= 0x40
		if got, err := NewKeyring(k).Open(nil, bad, []byte("ctx")); err == nil {
			t.Fatalf("byte %d flipped, read %q", i, got)
		}
	}
	// A frame sealed with another key of the same id cannot happen (ids
	// come from keys), but a frame opened with the wrong key must fail.
	frame := k.SealFrame(nil, []byte("x"), nil)
	if _, err := mustKey(t, hexKey2).OpenFrame(nil, frame, nil); !errors.Is(err, ErrAuth) {
		t.Errorf("wrong key: %v", err)
	}
}

func TestConfigKeyring(t *testing.T) {
	r := secret.Resolver{
		LookupEnv: func(n string) (string, bool) { return map[string]string{"K": hexKey}[n], n == "K" },
		ReadFile:  func(string) ([]byte, error) { return []byte(hexKey2 + "\n"), nil },
	}
	c := Config{Key: "${env:K}", Previous: []PreviousKey{{KeyFile: "/old"}}}
	kr, err := c.Keyring(r, "spool.encryption.")
	if err != nil || kr.Primary().ID() != mustKey(t, hexKey).ID() || len(kr.IDs()) != 2 {
		t.Fatalf("%v %v", kr, err)
	}
	if _, err := (&Config{Key: "${env:NOPE}"}).Keyring(r, "spool.encryption."); err == nil || !strings.Contains(err.Error(), "spool.encryption.key: environment variable NOPE") {
		t.Errorf("%v", err)
	}
	if _, err := (&Config{Key: "short"}).Keyring(r, "x."); err == nil || !strings.Contains(err.Error(), "x.key: a key is 32 bytes") {
		t.Errorf("%v", err)
	}
	if errs := (&Config{Previous: []PreviousKey{{}}}).Validate(); len(errs) != 2 {
		t.Errorf("%v", errs)
	}
}

// FuzzOpen: no input panics, and nothing opens but what was sealed.
func FuzzOpen(f *testing.F) {
	k := mustKey(f, hexKey)
	kr := NewKeyring(k)
	f.Add(kr.Seal(nil, []byte("payload"), nil))
	f.Add([]byte(Magic))
	f.Add([]byte(Magic + "\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := kr.Open(nil, b, nil)
		if err == nil && string(got) != "payload" {
			t.Fatalf("opened %q", got)
		}
		_, _ = k.OpenFrame(nil, b, nil)
		_, _ = EnvelopeKeyID(b)
	})
}
