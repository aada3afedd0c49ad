package facts

import (
	"strings"
	"testing"
	"time"
	"unsafe"
)

// The memory store keeps copies of what it is told to remember: the key
// and value of a write are most often pieces of an event's line, which
// kept as they are would keep the whole line alive as long as the fact.
func TestMemoryKeepsNoLine(t *testing.T) {
	line := []byte(`{"user":"u-1","device":"d-9","pad":"` + strings.Repeat("x", 4096) + `"}`)
	user, device := unsafe.String(&line[9], 3), unsafe.String(&line[24], 3)
	m := NewMemory()
	for _, k := range []Kind{Set, Hash} {
		m.Remember(Write{Kind: k, Name: "devices", Key: user, Value: device, At: 1, TTL: time.Hour})
	}
	start, end := uintptr(unsafe.Pointer(&line[0])), uintptr(unsafe.Pointer(&line[len(line)-1]))
	inLine := func(s string) bool {
		p := uintptr(unsafe.Pointer(unsafe.StringData(s)))
		return len(s) > 0 && p >= start && p <= end
	}
	for e := range m.sets {
		if inLine(e.key) || inLine(e.member) {
			t.Errorf("set fact %+v points into the event's line", e)
		}
	}
	for e, v := range m.hashes {
		if inLine(e.key) || inLine(v.v) {
			t.Errorf("hash fact %+v = %q points into the event's line", e, v.v)
		}
	}
	if len(m.sets) != 1 || len(m.hashes) != 1 {
		t.Fatalf("%d set and %d hash facts, want one each", len(m.sets), len(m.hashes))
	}
}
