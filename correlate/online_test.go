package correlate

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/rules"
)

// TestStateRoundTrip: an online model and a baseline saved and restored
// into a new engine give identical scores.
func TestStateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "models"), 0o755)
	os.WriteFile(filepath.Join(dir, "models", "m.online.yaml"), []byte("feedback: {stream: fb, alert_id: event.alert, label: event.fraud == true}\nmin_labels: 2\n"), 0o644)
	c, err := rules.NewCompiler(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, errs := c.LoadOnlineModels(filepath.Join(dir, "models")); len(errs) > 0 {
		t.Fatal(errs)
	}
	src := `id: r
title: r
streams: [s]
by: [event.card]
baselines:
  amount: {value: event.amount, half_life: 1h, min_count: 2}
match: event.amount > 0.0
alert:
  fields: {z: anomaly.amount}
score:
  model: m
  features: {amount: event.amount, z: anomaly.amount}
`
	r, errs := c.CompileFile("r.yaml", []byte(src))
	if r == nil {
		t.Fatal(errs)
	}
	newEngine := func() (*Engine, *[]*alert.Alert) {
		var out []*alert.Alert
		e, err := New([]*rules.Rule{r}, Config{}, func(a *alert.Alert) { out = append(out, a) })
		if err != nil {
			t.Fatal(err)
		}
		return e, &out
	}
	e1, out1 := newEngine()
	for i := 0; i < 4; i++ {
		e1.Push(ev(t, "s", fmt.Sprint("e", i), i, fmt.Sprintf(`"card":"c","amount":%d`, 10+i)), time.Time{})
	}
	e1.Push(ev(t, "s", "tick", 50, `"card":"other","amount":0`), time.Time{}) // releases e3
	if len(*out1) != 4 {
		t.Fatalf("%d alerts before feedback", len(*out1))
	}
	for i, a := range *out1 {
		e1.Push(ev(t, "fb", fmt.Sprint("f", i), 100+i, fmt.Sprintf(`"alert":%q,"fraud":%v`, a.ID, i%2 == 0)), time.Time{})
	}
	e1.Close()
	store := DirStore{Dir: filepath.Join(dir, "state")}
	if err := e1.SaveState(store); err != nil {
		t.Fatal(err)
	}
	if s := e1.OnlineStats()["m"]; s.Labels != 4 {
		t.Fatalf("labels %d, want 4", s.Labels)
	}

	score := func(e *Engine, out *[]*alert.Alert) (float64, any) {
		*out = nil
		e.Push(ev(t, "s", "probe", 200, `"card":"c","amount":50`), time.Time{})
		e.Close()
		a := (*out)[0]
		if a.Score == nil {
			t.Fatal("not scored")
		}
		return *a.Score, a.Fields["z"]
	}
	e2, out2 := newEngine()
	if err := e2.LoadState(store); err != nil {
		t.Fatal(err)
	}
	e3, out3 := newEngine()
	if err := e3.LoadState(store); err != nil {
		t.Fatal(err)
	}
	s2, z2 := score(e2, out2)
	s3, z3 := score(e3, out3)
	if s2 != s3 || z2 != z3 || z2 == 0.0 {
		t.Errorf("restored engines differ or saw no history: score %v vs %v, z %v vs %v", s2, s3, z2, z3)
	}
	// A fresh engine has no history: no z-score, and its model is not
	// ready (and has no fallback), so the alert is not scored.
	fresh, outF := newEngine()
	fresh.Push(ev(t, "s", "probe", 200, `"card":"c","amount":50`), time.Time{})
	fresh.Close()
	if a := (*outF)[0]; a.Score != nil || a.Fields["z"] != 0.0 {
		t.Errorf("fresh engine: score %v, z %v", a.Score, a.Fields["z"])
	}
}

// TestOnlineSettingsChangedSinceCheckpoint: a model restored from a
// checkpoint goes on under its file's settings, not the checkpoint's,
// keeping what it learnt; with a table of another size it learns afresh.
func TestOnlineSettingsChangedSinceCheckpoint(t *testing.T) {
	dir := t.TempDir()
	store := DirStore{Dir: filepath.Join(dir, "state")}
	// engine compiles a rule scored by a model of the given settings.
	engine := func(settings string) (*Engine, *[]*alert.Alert) {
		models := t.TempDir()
		os.WriteFile(filepath.Join(models, "m.online.yaml"), []byte("feedback: {stream: fb, alert_id: event.alert, label: event.fraud == true}\n"+settings), 0o644)
		c, err := rules.NewCompiler(rules.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, errs := c.LoadOnlineModels(models); len(errs) > 0 {
			t.Fatal(errs)
		}
		r, errs := c.CompileFile("r.yaml", []byte("id: r\ntitle: r\nstreams: [s]\nmatch: event.amount > 0.0\nscore:\n  model: m\n  features: {amount: event.amount}\n"))
		if r == nil {
			t.Fatal(errs)
		}
		var out []*alert.Alert
		e, err := New([]*rules.Rule{r}, Config{}, func(a *alert.Alert) { out = append(out, a) })
		if err != nil {
			t.Fatal(err)
		}
		return e, &out
	}
	e1, out1 := engine("min_labels: 2\n")
	for i := 0; i < 4; i++ {
		e1.Push(ev(t, "s", fmt.Sprint("e", i), i, fmt.Sprintf(`"amount":%d`, 10+i)), time.Time{})
	}
	e1.Push(ev(t, "s", "tick", 50, `"amount":0`), time.Time{})
	for i, a := range *out1 {
		e1.Push(ev(t, "fb", fmt.Sprint("f", i), 100+i, fmt.Sprintf(`"alert":%q,"fraud":%v`, a.ID, i%2 == 0)), time.Time{})
	}
	e1.Close()
	if err := e1.SaveState(store); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		settings string
		labels   uint64 // what the restored model has learnt from
		scored   bool   // whether it scores: ready, and no fallback
	}{
		{settings: "min_labels: 2\n", labels: 4, scored: true},
		// Ten labels before it scores, where the checkpoint said two.
		{settings: "min_labels: 10\n", labels: 4, scored: false},
		// A table of another size: nothing learnt fits it.
		{settings: "min_labels: 2\nhash_bits: 10\n", labels: 0, scored: false},
	} {
		e, out := engine(tc.settings)
		if err := e.LoadState(store); err != nil {
			t.Fatalf("%q: %v", tc.settings, err)
		}
		if got := e.online["m"].model.Labels(); got != tc.labels {
			t.Errorf("%q: restored %d labels, want %d", tc.settings, got, tc.labels)
		}
		e.Push(ev(t, "s", "probe", 200, `"amount":50`), time.Time{})
		e.Close()
		if len(*out) != 1 || ((*out)[0].Score != nil) != tc.scored {
			t.Errorf("%q: %d alerts, scored %v, want scored %v", tc.settings, len(*out), len(*out) == 1 && (*out)[0].Score != nil, tc.scored)
		}
	}
}
