package main

import (
	"testing"
	"time"
)

// TestSplitSeen reads back the key and time an alert was tallied under,
// whatever bytes the key's text holds: a key value may hold a NUL.
func TestSplitSeen(t *testing.T) {
	at := time.Date(2026, 12, 4, 10, 0, 0, 5, time.UTC)
	for _, key := range []string{"card=c1", "", "user=a\x00b", "\x00"} {
		got := splitSeen(key + "\x00" + at.Format(time.RFC3339Nano))
		if got.Key != key || !got.Time.Equal(at) {
			t.Errorf("%q: read back %q at %v", key, got.Key, got.Time)
		}
	}
}
