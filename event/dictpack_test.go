package event

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/s2"
)

// decodeDictBlock unpacks a dictEncoder block with S2's decoder.
func decodeDictBlock(t testing.TB, d *s2.Dict, block []byte) []byte {
	t.Helper()
	n, err := s2.DecodedLen(block)
	if err != nil {
		t.Fatalf("block %x: %v", block, err)
	}
	out, err := d.Decode(make([]byte, n), block)
	if err != nil {
		t.Fatalf("block %x: %v", block, err)
	}
	return out
}

// Every line of the decoder's fixtures packs against a dictionary of the
// others and unpacks, with S2's decoder, to itself.
func TestDictEncoderRoundTrip(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.jsonl")
	var all [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, bytes.Split(bytes.TrimSpace(b), []byte("\n"))...)
	}
	if len(all) < 10 {
		t.Fatalf("%d fixture lines", len(all))
	}
	dict := bytes.Join(all[:len(all)/2], []byte("\n"))
	dict = dict[max(0, len(dict)-maxPackDict):]
	d, enc := s2.MakeDict(dict, nil), newDictEncoder(dict)
	var in, out int
	for _, l := range all[len(all)/2:] {
		block := enc.encode(nil, l)
		if got := decodeDictBlock(t, d, block); !bytes.Equal(got, l) {
			t.Fatalf("%q unpacks to %q", l, got)
		}
		in, out = in+len(l), out+len(block)
	}
	t.Logf("%d bytes packed into %d", in, out)
	if out >= in {
		t.Errorf("%d bytes packed into %d", in, out)
	}
}

// Copies whose offsets pass 16 bits, runs within the line, copies that
// would reach past the first 64 KiB of output, and lines too short to
// copy all unpack to themselves.
func TestDictEncoderEdges(t *testing.T) {
	dict := bytes.Repeat([]byte(`{"user":"u-1","geo":{"city":"Madrid"}}`+"\n"), maxPackDict/40)
	d, enc := s2.MakeDict(dict, nil), newDictEncoder(dict)
	long := bytes.Repeat([]byte(`"geo":{"city":"Madrid"},"x":`), 4000) // past 64 KiB
	for _, l := range [][]byte{
		nil, []byte("{}"), []byte(`{"user":"u-1"}`),
		append(bytes.Repeat([]byte("z"), 5000), `{"user":"u-1","geo":{"city":"Madrid"}}`...),
		bytes.Repeat([]byte("ab"), 300),
		long,
	} {
		block := enc.encode(nil, l)
		if got := decodeDictBlock(t, d, block); !bytes.Equal(got, l) {
			t.Fatalf("%.80q… unpacks to %.80q…", l, got)
		}
	}
	if b := enc.encode(nil, bytes.Repeat([]byte("ab"), 300)); len(b) > 40 {
		t.Errorf("a run of 600 bytes packed into %d", len(b))
	}
}

func FuzzDictEncoder(f *testing.F) {
	f.Add([]byte(`{"user":"u-1","geo":{"city":"Madrid"}}`), []byte(`{"user":"u-2","geo":{"city":"Madrid"}}`))
	f.Add(bytes.Repeat([]byte("abcd"), 100), []byte("xxabcdabcdabcdyyyyyyyyyyyyy"))
	f.Fuzz(func(t *testing.T, dict, line []byte) {
		if len(dict) < s2.MinDictSize || len(dict) > maxPackDict {
			return
		}
		d, enc := s2.MakeDict(dict, nil), newDictEncoder(dict)
		if got := decodeDictBlock(t, d, enc.encode(nil, line)); !bytes.Equal(got, line) {
			t.Fatalf("%q unpacks to %q", line, got)
		}
	})
}
