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
	file := func(name string, from int) orderInput {
		var b strings.Builder
		for i := range 10 {
			fmt.Fprintf(&b, `{"ts":%d}`+"\n", from+i)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return orderInput{path: path, spec: source.Spec{Name: path, Stream: name}}
	}
	early, soon, late := file("a", 1000), file("b", 1600), file("c", 1000+3*3600)
	for _, tc := range []struct {
		name      string
		files     []orderInput
		lateness  time.Duration
		maxFuture time.Duration
		want      bool
		log       string
	}{
		{"in order", []orderInput{early, soon}, 5 * time.Second, time.Hour, true, ""},
		{"the default future check", []orderInput{early, soon}, 5 * time.Second, 0, true, ""},
		{"beginning hours apart", []orderInput{early, late}, 5 * time.Second, time.Hour, false, "begin too far apart"},
		{"hours apart with the future check off", []orderInput{early, late}, 5 * time.Second, -1, true, ""},
		{"a lateness of half the future limit", []orderInput{early, soon}, 30 * time.Minute, time.Hour, false, ""},
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
