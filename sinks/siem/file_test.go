package siem

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cep-project/cep/alert"
)

func TestFileRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out", "alerts.jsonl")
	c := fastConfig("file", TypeFile)
	c.File = &FileConfig{Path: path, MaxBytes: 2000, MaxFiles: 2}
	s := startSink(t, c, quietOptions())
	as := numbered(40)
	sendAll(t, s, as)
	stopSink(t, s)

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
	want := wantIDs(40)
	if !equalStrings(ids, want[len(want)-len(ids):]) {
		t.Fatalf("ids %v", ids)
	}
}

// Shadow alerts reach only file and stdout sinks that ask for them; the
// router applies each sink's priority, severity and tag filters.
func TestRouterFilters(t *testing.T) {
	var outAll, outHigh bytes.Buffer
	mk := func(name string, mut func(*Config)) Config {
		c := fastConfig(name, TypeStdout)
		mut(&c)
		return c
	}
	cfgs := []Config{
		mk("all", func(c *Config) { c.IncludeShadow = true }),
		mk("high", func(c *Config) {
			c.MinPriority = 50
			c.Severities = []alert.Severity{alert.High, alert.Critical}
			c.Tags = []string{"attack.*", "fraud"}
		}),
	}
	outs := map[string]*bytes.Buffer{"all": &outAll, "high": &outHigh}
	var sinks []*Sink
	for _, c := range cfgs {
		opts := quietOptions()
		opts.Stdout = outs[c.Name]
		s, err := New(c, opts)
		if err != nil {
			t.Fatal(err)
		}
		sinks = append(sinks, s)
	}
	r := NewRouter(sinks...)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	alerts := []*alert.Alert{
		{ID: "shadow", Severity: alert.Critical, Priority: 99, Tags: []string{"fraud"}, Shadow: true},
		{ID: "low-prio", Severity: alert.High, Priority: 10, Tags: []string{"fraud"}},
		{ID: "medium", Severity: alert.Medium, Priority: 90, Tags: []string{"fraud"}},
		{ID: "untagged", Severity: alert.High, Priority: 90, Tags: []string{"other"}},
		{ID: "attack", Severity: alert.High, Priority: 90, Tags: []string{"attack.t1110"}},
		{ID: "fraud", Severity: alert.Critical, Priority: 50, Tags: []string{"x", "fraud"}},
	}
	for _, a := range alerts {
		if err := r.Send(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	ids := func(b *bytes.Buffer) []string {
		var out []string
		for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
			var a alert.Alert
			if err := json.Unmarshal([]byte(line), &a); err != nil {
				t.Fatal(err)
			}
			out = append(out, a.ID)
		}
		return out
	}
	if got := ids(&outAll); !equalStrings(got, []string{"shadow", "low-prio", "medium", "untagged", "attack", "fraud"}) {
		t.Errorf("all: %v", got)
	}
	if got := ids(&outHigh); !equalStrings(got, []string{"attack", "fraud"}) {
		t.Errorf("high: %v", got)
	}
	if h := r.Health(); len(h) != 2 || h[0].State != "stopped" {
		t.Errorf("health %+v", h)
	}
	if err := sinks[0].Send(context.Background(), alerts[0]); err != ErrStopped {
		t.Errorf("send after stop: %v", err)
	}
}
