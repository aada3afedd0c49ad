package correlate

import (
	"fmt"
	"maps"
	"slices"
	"testing"
)

func TestKeyTable(t *testing.T) {
	long := "s:C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
	m := map[string][]int{
		"":                  {7},
		"s:m-00042":         {3},
		"s:exactly16bytes":  {1, 4},
		"s:seventeen-bytes": {2},
		long:                {5, 6, 9},
		"n:4688":            {8},
	}
	tab := newKeyTable(m)
	for _, tc := range []struct {
		key  string
		want []int
	}{
		{"", []int{7}},
		{"s:m-00042", []int{3}},
		{"s:m-00043", nil},
		{"s:m-0004", nil},
		{"s:exactly16bytes", []int{1, 4}},
		{"s:seventeen-bytes", []int{2}},
		{"s:seventeen-byteS", nil},
		{long, []int{5, 6, 9}},
		{long[:len(long)-1], nil},
		{"n:4688", []int{8}},
		{"s:4688", nil},
	} {
		got := tab.lookup([]int{0}, []byte(tc.key))
		if want := append([]int{0}, tc.want...); !slices.Equal(got, want) {
			t.Errorf("lookup(%q) = %v, want %v", tc.key, got[1:], tc.want)
		}
	}
	var none keyTable
	if !none.empty() || len(none.lookup(nil, []byte("x"))) != 0 {
		t.Error("an empty table finds something")
	}
}

// TestByHashOf merges the lists of keys that hash alike, so that a lookup
// of either finds the rules of both, which their conditions then tell
// apart.
func TestByHashOf(t *testing.T) {
	m := map[string][]int{"s:a": {4, 9}, "s:b": {2, 4}, "s:cc": {7}, "s:dd": nil}
	got := byHashOf(m, func(k []byte) uint64 { return uint64(len(k)) })
	want := map[uint64][]int{3: {2, 4, 9}, 4: {7}}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("byHashOf = %v, want %v", got, want)
	}
}

// TestKeyTableFull fills tables of many sizes, so that keys share slots
// and probes wrap around the end, and finds every key and no other.
func TestKeyTableFull(t *testing.T) {
	for _, n := range []int{1, 2, 3, 7, 64, 1000, 10000} {
		m := map[string][]int{}
		for i := range n {
			m[fmt.Sprintf("s:m-%05d", i)] = []int{i}
			if i%3 == 0 {
				m[fmt.Sprintf("s:a much longer value, number %d", i)] = []int{i, i + 1}
			}
		}
		tab := newKeyTable(m)
		if 4*len(m) > 3*len(tab.slots) {
			t.Errorf("%d keys in %d slots: more than three quarters full", len(m), len(tab.slots))
		}
		for k, want := range m {
			if got := tab.lookup(nil, []byte(k)); !slices.Equal(got, want) {
				t.Fatalf("n=%d: lookup(%q) = %v, want %v", n, k, got, want)
			}
		}
		for i := n; i < n+100; i++ {
			if got := tab.lookup(nil, []byte(fmt.Sprintf("s:m-%05d", i))); got != nil {
				t.Fatalf("n=%d: a missing key found %v", n, got)
			}
		}
	}
}

// BenchmarkKeyTable compares a lookup in the table with one in the Go map
// it was frozen from, for a router's index by merchant at 1,000 and
// 10,000 rules, looking up every merchant in turn.
func BenchmarkKeyTable(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		m := map[string][]int{}
		for i := range n {
			m[fmt.Sprintf("s:m-%05d", i*10000/n)] = []int{i}
		}
		var keys [][]byte
		for i := range 10000 {
			keys = append(keys, fmt.Appendf(nil, "s:m-%05d", (i*7919)%10000))
		}
		tab := newKeyTable(m)
		out := make([]int, 0, 8)
		b.Run(fmt.Sprintf("map/%d", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				out = append(out[:0], m[string(keys[i%len(keys)])]...)
				i++
			}
		})
		b.Run(fmt.Sprintf("table/%d", n), func(b *testing.B) {
			i := 0
			for b.Loop() {
				out = tab.lookup(out[:0], keys[i%len(keys)])
				i++
			}
		})
	}
}

// TestKeyTableEnds: a text no key ends like is turned away, and the
// filter never turns away a text whose key is in the table; a key
// shorter than two bytes turns nothing away.
func TestKeyTableEnds(t *testing.T) {
	m := map[string][]int{}
	for i := range 300 {
		m[fmt.Sprintf("s:m-%05d", i*100)] = []int{i}
	}
	m["n:4688"] = []int{1000}
	m["s:a"] = []int{1001}
	tab := newKeyTable(m)
	turnedAway := 0
	for i := range 20000 {
		s := fmt.Sprintf("m-%05d", i)
		found := len(tab.lookup(nil, []byte("s:"+s))) > 0
		if tab.endsUnlike(s) {
			turnedAway++
			if found {
				t.Fatalf("%q turned away, but its key is in the table", s)
			}
		}
	}
	if turnedAway == 0 {
		t.Error("no text turned away: the filter does nothing")
	}
	for _, s := range []string{"a", "", "m-00300", "x-4688"} {
		if tab.endsUnlike(s) {
			t.Errorf("%q turned away", s)
		}
	}
	short := newKeyTable(map[string][]int{"s": {1}, "s:m-1": {2}})
	if short.endsUnlike("zz") {
		t.Error("a table with a key of one byte turns a text away")
	}
}
