package file

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/sinks/siem"
	"github.com/cep-project/cep/sinks/siem/siemtest"
	"github.com/cep-project/cep/sinks/siem/sinktest"
)

func TestFileRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out", "alerts.jsonl")
	c := siemtest.FastConfig("file", File, &Config{Path: path, MaxBytes: 2000, MaxFiles: 2})
	s := siemtest.Start(t, siemtest.QuietOptions(), c)
	siemtest.SendAll(t, s, sinktest.Numbered(40))
	siemtest.Stop(t, s)

	var ids []string
	for _, p := range []string{path + ".2", path + ".1", path} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 2000 {
			t.Fatalf("%s is %d bytes, over max_bytes", p, len(b))
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var a alert.Alert
			if err := json.Unmarshal([]byte(line), &a); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			ids = append(ids, a.ID)
		}
	}
	if _, err := os.Stat(path + ".3"); err == nil {
		t.Fatal("kept more than max_files")
	}
	// Older files were deleted; what remains is the newest alerts in order.
	want := sinktest.WantIDs(40)
	if !slices.Equal(ids, want[len(want)-len(ids):]) {
		t.Fatalf("ids %v", ids)
	}
}

// A file sink whose path cannot be created fails the start, naming the
// path, instead of spooling every alert for ever.
func TestFileSinkChecksItsPathAtStart(t *testing.T) {
	blocker := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(blocker, "alerts.jsonl")
	r, err := siem.Build([]siem.Config{siemtest.FastConfig("archive", File, &Config{Path: path})}, siemtest.QuietOptions())
	if err != nil {
		t.Fatal(err)
	}
	err = r.Start(context.Background())
	if err == nil || !strings.Contains(err.Error(), `sink "archive": file: cannot write `+path) {
		t.Fatalf("start: %v", err)
	}
}
