package runtime

import (
	"testing"
	"time"

	"github.com/cep-project/cep/correlate"
)

// The statistics of a scaled-out process's tasks add up: counters and
// busy time are summed, the watermark is the least, a stream is idle or
// ended only where it is so in every task, and its newest event is the
// newest of all.
func TestMergeStatistics(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)
	a := &Statistics{
		Time:        t0,
		Engine:      correlate.Stats{Events: 10, Alerts: 2, Watermark: 500},
		RuleStats:   map[string]correlate.RuleStats{"r": {Evaluated: 7, Alerts: 2}},
		RuleStates:  map[string]correlate.RuleState{"r": {Keys: 3, Bytes: 100}},
		Streams:     map[string]correlate.StreamClock{"s": {Newest: t0, Idle: true, Ended: true}},
		Checkpoints: 1,
		EngineBusy:  2 * time.Second,
	}
	b := &Statistics{
		Time:             t0.Add(time.Second),
		Engine:           correlate.Stats{Events: 5, Alerts: 1, Watermark: 300},
		RuleStats:        map[string]correlate.RuleStats{"r": {Evaluated: 4, Alerts: 1}},
		RuleStates:       map[string]correlate.RuleState{"r": {Keys: 1, Bytes: 50}},
		Streams:          map[string]correlate.StreamClock{"s": {Newest: t0.Add(time.Minute), Idle: false, Ended: true}},
		Checkpoints:      2,
		CheckpointErrors: 1,
		EngineBusy:       500 * time.Millisecond,
	}
	if MergeStatistics([]*Statistics{nil, nil}) != nil {
		t.Error("statistics merged from none published")
	}
	m := MergeStatistics([]*Statistics{a, nil, b})
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"time", m.Time, t0.Add(time.Second)},
		{"events", m.Engine.Events, uint64(15)},
		{"alerts", m.Engine.Alerts, uint64(3)},
		{"watermark", m.Engine.Watermark, int64(300)},
		{"rule evaluated", m.RuleStats["r"].Evaluated, uint64(11)},
		{"rule keys", m.RuleStates["r"].Keys, 4},
		{"rule bytes", m.RuleStates["r"].Bytes, int64(150)},
		{"stream newest", m.Streams["s"].Newest, t0.Add(time.Minute)},
		{"stream idle", m.Streams["s"].Idle, false},
		{"stream ended", m.Streams["s"].Ended, true},
		{"checkpoints", m.Checkpoints, 3},
		{"checkpoint errors", m.CheckpointErrors, 1},
		{"engine busy", m.EngineBusy, 2500 * time.Millisecond},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v (%T), want %v (%T)", c.what, c.got, c.got, c.want, c.want)
		}
	}
}
