package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cep-project/cep/source"
)

// TestMergeable: files in order merge, unless they begin too far apart
// for the future check, or the lateness is no smaller than half of it.
func TestMergeable(t *testing.T) {
	dir := t.TempDir()
	// A file of stream with an event a minute from from, for n minutes.
	file := func(name, stream string, from, n int) *source.File {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, `{"ts":%d}`+"\n", from+60*i)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return &source.File{Spec: source.Spec{Name: path, Stream: stream}, Path: path}
	}
	const hour, day = 3600, 86400
	early, soon, late := file("a", "a", 1000, 10), file("b", "b", 1600, 10), file("c", "c", 1000+3*hour, 10)
	day1, day2 := file("day1", "auth", day, 24*60), file("day2", "auth", 2*day, 24*60)
	after := file("after", "auth", 2*day+3*hour, 60) // three hours after day2 began, its stream busy since
	gap := file("gap", "auth", 3*day+5*hour, 60)     // five hours after day2 ended
	other := file("other", "payments", day, 3*24*60) // another stream, over all three days
	for _, tc := range []struct {
		name      string
		files     []*source.File
		lateness  time.Duration
		maxFuture time.Duration
		want      bool
		log       string
	}{
		{"in order", []*source.File{early, soon}, 5 * time.Second, time.Hour, true, ""},
		{"the default future check", []*source.File{early, soon}, 5 * time.Second, 0, true, ""},
		{"beginning hours apart", []*source.File{early, late}, 5 * time.Second, time.Hour, false, "begins after a gap"},
		{"a file a day", []*source.File{day1, day2}, 5 * time.Second, time.Hour, true, ""},
		{"hours into a busy stream", []*source.File{day1, day2, after}, 5 * time.Second, time.Hour, true, ""},
		{"after hours of nothing", []*source.File{day1, day2, gap}, 5 * time.Second, time.Hour, false, "begins after a gap"},
		{"after hours of nothing in its stream, whatever others do", []*source.File{day1, day2, gap, other}, 5 * time.Second, time.Hour, false, "begins after a gap"},
		{"its stream's first, after another stream's events", []*source.File{other, gap}, 5 * time.Second, time.Hour, true, ""},
		{"hours apart with the future check off", []*source.File{early, late}, 5 * time.Second, -1, true, ""},
		{"a lateness of half the future limit", []*source.File{early, soon}, 30 * time.Minute, time.Hour, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			a := &app{log: slog.New(slog.NewTextHandler(&logs, nil))}
			if got := a.mergeable(context.Background(), tc.files, tc.lateness, tc.maxFuture); got != tc.want {
				t.Errorf("mergeable = %v, want %v; log:\n%s", got, tc.want, logs.String())
			}
			if !strings.Contains(logs.String(), tc.log) {
				t.Errorf("log %q, want it to say %q", logs.String(), tc.log)
			}
		})
	}
}
