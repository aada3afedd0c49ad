package source

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestScanOrder(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lines    []string
		ahead    time.Duration
		inOrder  bool
		events   int
		line     int
		whyStart string
	}{
		{name: "in order", lines: []string{`{"ts":10}`, `{"ts":11}`, `{"ts":12}`}, inOrder: true, events: 3},
		{name: "out of place within the lateness", lines: []string{`{"ts":10}`, `{"ts":16}`, `{"ts":11}`, `{"ts":17}`}, inOrder: true, events: 4},
		{name: "exactly the lateness behind", lines: []string{`{"ts":20}`, `{"ts":15}`}, inOrder: true, events: 2},
		{name: "beyond the lateness", lines: []string{`{"ts":10}`, `{"ts":20}`, `{"ts":14}`}, events: 3, line: 3, whyStart: "its time 1970-01-01T00:00:14Z is 6s before"},
		{name: "newest first", lines: []string{`{"ts":30}`, `{"ts":20}`, `{"ts":10}`}, events: 2, line: 2},
		{name: "malformed and blank lines passed over", lines: []string{`{"ts":10}`, `not json`, ``, `{"ts":1`, `{"ts":11}`}, inOrder: true, events: 2},
		{name: "a jump ahead", lines: []string{`{"ts":10}`, `{"ts":100}`}, ahead: time.Minute, events: 2, line: 2, whyStart: "its time 1970-01-01T00:01:40Z is 1m30s after"},
		{name: "a jump within the limit", lines: []string{`{"ts":10}`, `{"ts":60}`}, ahead: time.Minute, inOrder: true, events: 2},
		{name: "a jump with no limit", lines: []string{`{"ts":10}`, `{"ts":100000}`}, inOrder: true, events: 2},
		{name: "empty", lines: nil, inOrder: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "in.jsonl")
			if err := os.WriteFile(path, []byte(strings.Join(tc.lines, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			sc, err := (&File{Spec: Spec{Name: path, Stream: "s"}, Path: path}).ScanOrder(context.Background(), 5*time.Second, tc.ahead)
			if err != nil {
				t.Fatal(err)
			}
			if sc.InOrder != tc.inOrder || sc.Events != tc.events || sc.Line != tc.line || !strings.HasPrefix(sc.Why, tc.whyStart) {
				t.Errorf("got %+v, want in order %v, %d events, line %d, why %q…", sc, tc.inOrder, tc.events, tc.line, tc.whyStart)
			}
			if tc.name == "a jump within the limit" {
				// Spans of 15 s: 10 s is in the first, 60 s in the fifth.
				if !slices.Equal(sc.Spans, []int64{0, 4}) || !sc.Covers(0, 15*int64(time.Second)-1, tc.ahead) || sc.Covers(1, 59*int64(time.Second), tc.ahead) {
					t.Errorf("spans %v", sc.Spans)
				}
			}
			if tc.events == 0 {
				return
			}
			if first := tc.lines[0][len(`{"ts":`) : len(tc.lines[0])-1]; time.Duration(sc.First).String() != first+"s" {
				t.Errorf("first event at %s, want %ss", time.Duration(sc.First), first)
			}
		})
	}
	if _, err := (&File{Spec: Spec{Stream: "s"}, Path: filepath.Join(t.TempDir(), "missing.jsonl")}).ScanOrder(context.Background(), 0, 0); err == nil {
		t.Error("a missing file: no error")
	}
}
