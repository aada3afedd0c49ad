package siem

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cep-project/cep/internal/seal"
	"github.com/cep-project/cep/internal/secret"
	"github.com/cep-project/cep/sinks/siem/sinktest"
)

const (
	spoolKey1 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
	spoolKey2 = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"
)

func keyring(tb testing.TB, primary string, older ...string) *seal.Keyring {
	tb.Helper()
	k, err := seal.ParseKey(primary)
	if err != nil {
		tb.Fatal(err)
	}
	var old []*seal.Key
	for _, o := range older {
		ok, err := seal.ParseKey(o)
		if err != nil {
			tb.Fatal(err)
		}
		old = append(old, ok)
	}
	return seal.NewKeyring(k, old...)
}

// With a key, segments hold no plaintext; the key's id is in each
// segment's header; a missing or unknown key is a clear error at open;
// after a rotation the previous key still reads old segments and new ones
// are sealed with the new key.
func TestSpoolEncryptedAtRest(t *testing.T) {
	dir := t.TempDir()
	ps := alertPayloads(5)
	k1 := keyring(t, spoolKey1)
	seg := spoolWith(t, dir, k1, ps)
	b, _ := os.ReadFile(seg)
	if bytes.Contains(b, []byte(`"pad"`)) || bytes.Contains(b, []byte("a0001")) {
		t.Fatal("plaintext in a sealed segment")
	}
	if h, err := readSegHeader(b); err != nil || h.keyID != k1.Primary().ID() {
		t.Fatalf("header %+v %v", h, err)
	}
	if _, _, err := openDiskSpool(dir, 1<<20, nil); err == nil || !strings.Contains(err.Error(), "encrypted with key "+k1.Primary().ID()+", but spool.encryption is not configured") {
		t.Fatalf("no key: %v", err)
	}
	if _, _, err := openDiskSpool(dir, 1<<20, keyring(t, spoolKey2)); err == nil || !strings.Contains(err.Error(), k1.Primary().ID()) || !strings.Contains(err.Error(), "previous") {
		t.Fatalf("other key: %v", err)
	}
	rotated := keyring(t, spoolKey2, spoolKey1)
	s, rec, err := openDiskSpool(dir, 1<<20, rotated)
	if err != nil || !rec.empty() {
		t.Fatal(err, rec)
	}
	defer s.close()
	if err := s.append(alertPayloads(6)[5:]); err != nil {
		t.Fatal(err)
	}
	last, _ := os.ReadFile(s.path(s.segs[len(s.segs)-1]))
	if h, _ := readSegHeader(last); h.keyID != rotated.Primary().ID() || len(s.segs) != 2 {
		t.Fatalf("new records sealed with %q in %v", h.keyID, s.segs)
	}
	if got := drainAll(t, s, 4); !equalPayloads(got, alertPayloads(6)) {
		t.Fatalf("read %d records", len(got))
	}
}

// A sealed record changed on disk — even with its checksum made to match —
// does not authenticate: it is quarantined, never read as something else.
func TestSealedRecordsAreNeverMisread(t *testing.T) {
	dir := t.TempDir()
	k := keyring(t, spoolKey1)
	seg := spoolWith(t, dir, k, alertPayloads(3))
	b, _ := os.ReadFile(seg)
	h, _ := readSegHeader(b)
	first := b[h.size:]
	n := int(binary.LittleEndian.Uint32(first))
	first[frameHeader+n/2] ^= 0x01
	binary.LittleEndian.PutUint32(first[4:], crc32.Checksum(first[frameHeader:frameHeader+n], castagnoli))
	if err := os.WriteFile(seg, b, 0o640); err != nil {
		t.Fatal(err)
	}
	s, rec, err := openDiskSpool(dir, 1<<20, k)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	if got := drainAll(t, s, 10); !equalPayloads(got, alertPayloads(3)[1:]) {
		t.Fatalf("read %d records", len(got))
	}
	if rec.QuarantinedBytes != int64(n+frameHeader) || !strings.Contains(rec.Problems[0], "does not authenticate") {
		t.Fatalf("recovery %+v", rec)
	}
}

// End to end: spool.encryption with the key from the environment; the
// spool directory never holds an alert in plaintext, and a restart with
// the key delivers what was spooled.
func TestSinkSpoolEncryption(t *testing.T) {
	dest := &sinktest.Memory{}
	dest.Down.Store(true)
	c := memConfig("m", dest)
	c.Spool.Dir = t.TempDir()
	c.Spool.Encryption = &seal.Config{Key: "${env:SPOOL_KEY}"}
	opts := quietOptions()
	opts.Secrets = secret.Resolver{
		LookupEnv: func(n string) (string, bool) { return spoolKey1, n == "SPOOL_KEY" },
		ReadFile:  os.ReadFile,
	}
	s := startSink(t, c, opts)
	a := sinktest.Numbered(3)
	a[1].Fields["card"] = "4111111111111111"
	sendAll(t, s, a)
	sinktest.Eventually(t, 5*time.Second, "spooled", func() bool { return s.snd.health().SpoolRecords == 3 })
	stopSink(t, s)
	assertNotInDir(t, c.Spool.Dir, "4111111111111111")
	assertNotInDir(t, c.Spool.Dir, `"a001"`)

	dest.Down.Store(false)
	s2 := startSink(t, c, opts)
	sinktest.Eventually(t, 5*time.Second, "delivered after restart", func() bool { return len(dest.IDs()) == 3 })
	stopSink(t, s2)
	if !bytes.Contains(dest.Records()[1].Body, []byte("4111111111111111")) {
		t.Fatal("the delivered alert is not the one spooled")
	}
	// Without the key the spool does not open, and says why.
	c.Spool.Encryption = nil
	if err := newTestSink(t, c, opts).snd.start(t.Context()); err == nil || !strings.Contains(err.Error(), "spool.encryption is not configured") {
		t.Fatalf("start without the key: %v", err)
	}
	// Its files stay where they are.
	if segs, _ := filepath.Glob(filepath.Join(c.Spool.Dir, "*.seg")); len(segs) == 0 {
		t.Fatal("segments gone")
	}
}
