package ml

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary documents to the parser and scores whatever
// compiles: loading may fail, but neither loading nor scoring may panic.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.pmml"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add(gbmPMML(2, 2, 2))
	f.Fuzz(func(t *testing.T, doc string) {
		m, err := Parse(strings.NewReader(doc), "fuzz.pmml")
		if err != nil {
			return
		}
		s := m.NewScorer()
		if _, err := s.Score(); err != nil {
			return
		}
		for i := range m.Inputs() {
			s.Set(i, Num(float64(i)-0.5))
		}
		if r, err := s.Score(); err == nil {
			r.Reasons()
			r.Map()
		}
	})
}

// FuzzUnmarshalState restores arbitrary bytes as an online model's and a
// baseline's checkpointed state. Restoring may fail, without making a
// weight table for a header it then refuses; a restored state writes
// back to bytes that restore to the same state.
func FuzzUnmarshalState(f *testing.F) {
	m, err := NewOnlineLogistic(OnlineLogisticConfig{HashBits: 4, MinLabels: 2})
	if err != nil {
		f.Fatal(err)
	}
	m.Update([]Feature{{"a", 1}, {"b=x", 1}}, true)
	online, _ := m.MarshalBinary()
	f.Add(online)
	big := append([]byte(nil), online...)
	big[1] = 27 // above what a model may hold
	f.Add(big)
	st := BaselineState{Mean: 1.5, SumSq: 2, Weight: 3, Count: 4, Last: time.Unix(5, 6).UTC()}
	baseline, _ := st.MarshalBinary()
	f.Add(baseline)
	f.Fuzz(func(t *testing.T, b []byte) {
		var m OnlineLogistic
		if m.UnmarshalBinary(b) == nil {
			once, err := m.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			var back OnlineLogistic
			if err := back.UnmarshalBinary(once); err != nil {
				t.Fatalf("%x restored, wrote %x, which does not: %v", b, once, err)
			}
			if twice, _ := back.MarshalBinary(); !bytes.Equal(once, twice) {
				t.Fatalf("round trip changed %x into %x", once, twice)
			}
		}
		var st BaselineState
		if st.UnmarshalBinary(b) == nil {
			once, _ := st.MarshalBinary()
			// The encoding is fixed: what restores writes back as it came.
			if !bytes.Equal(once, b) {
				t.Fatalf("%x restored and wrote back as %x", b, once)
			}
		}
	})
}
