package runtime

import (
	"maps"
	"slices"

	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/source"
)

// MergeStatistics adds up the statistics of several runtimes that run the
// same rules over different shares of the input (the tasks of a scaled-out
// process): counters are summed, the watermark is the least, a stream is
// idle or ended only when it is so everywhere. It returns nil when none
// has published yet.
func MergeStatistics(all []*Statistics) *Statistics {
	var out *Statistics
	for _, s := range all {
		if s == nil {
			continue
		}
		if out == nil {
			out = &Statistics{
				Time:       s.Time,
				Rules:      s.Rules,
				RuleStats:  map[string]correlate.RuleStats{},
				RuleStates: map[string]correlate.RuleState{},
				Streams:    map[string]correlate.StreamClock{},
				Sources:    map[string]*source.Counters{},
			}
			out.Engine.Watermark = s.Engine.Watermark
		}
		if s.Time.After(out.Time) {
			out.Time = s.Time
		}
		addStats(&out.Engine, s.Engine)
		for id, r := range s.RuleStats {
			o := out.RuleStats[id]
			o.Evaluated += r.Evaluated
			o.Alerts += r.Alerts
			o.Shadow += r.Shadow
			o.Shed += r.Shed
			o.Bytes += r.Bytes
			o.ShedBytes += r.ShedBytes
			o.ShedItems += r.ShedItems
			out.RuleStats[id] = o
		}
		for id, r := range s.RuleStates {
			o, seen := out.RuleStates[id]
			o.Keys += r.Keys
			o.Partials += r.Partials
			if !seen || o.Bytes >= 0 && r.Bytes >= 0 {
				o.Bytes += r.Bytes
			} else {
				o.Bytes = -1
			}
			out.RuleStates[id] = o
		}
		for name, c := range s.Streams {
			o, seen := out.Streams[name]
			if !seen {
				out.Streams[name] = c
				continue
			}
			if c.Newest.After(o.Newest) {
				o.Newest = c.Newest
			}
			o.Idle = o.Idle && c.Idle
			o.Ended = o.Ended && c.Ended
			out.Streams[name] = o
		}
		for name, c := range s.Sources {
			o := out.Sources[name]
			if o == nil {
				o = &source.Counters{}
				out.Sources[name] = o
			}
			addCounters(o, c)
		}
		out.Checkpoints += s.Checkpoints
		out.CheckpointErrors += s.CheckpointErrors
		out.EngineBusy += s.EngineBusy
		if lc := s.LastCheckpoint; lc != nil {
			c := *lc
			out.LastCheckpoint = &c
		}
	}
	return out
}

// AddStats adds s's counters to o; the watermark is the lesser.
func AddStats(o *correlate.Stats, s correlate.Stats) { addStats(o, s) }

func addStats(o *correlate.Stats, s correlate.Stats) {
	o.Events += s.Events
	o.Processed += s.Processed
	o.Late += s.Late
	o.LateDropped += s.LateDropped
	o.Alerts += s.Alerts
	o.Deduped += s.Deduped
	o.KeyErrors += s.KeyErrors
	o.KeyMissing += s.KeyMissing
	o.LateInWindow += s.LateInWindow
	o.Shed += s.Shed
	o.Quarantined += s.Quarantined
	o.StateShed += s.StateShed
	o.StateBytes += s.StateBytes
	o.ReleasedEarly += s.ReleasedEarly
	o.LinesPacked += s.LinesPacked
	o.BufferedBytes += s.BufferedBytes
	o.StateErrors += s.StateErrors
	o.Partials += s.Partials
	o.PartialBytes += s.PartialBytes
	o.PartialsDropped += s.PartialsDropped
	o.PartialsExpired += s.PartialsExpired
	o.Buffered += s.Buffered
	o.Watermark = min(o.Watermark, s.Watermark)
}

func addCounters(o, c *source.Counters) {
	o.AddCounts(c)
	if c.Starting.Load() {
		o.Starting.Store(true)
	}
	lag := c.Lag.Snapshot()
	for _, lane := range slices.Sorted(maps.Keys(lag)) {
		o.Lag.Set(lane, lag[lane])
	}
}

// MergeStatus sums the checkpoint counters of several runtimes' statuses;
// the role is the first's that is not active, so that one task standing
// by or paused shows.
func MergeStatus(all []Status) Status {
	var out Status
	out.Role, out.Reading = RoleActive, true
	for i, s := range all {
		if i == 0 || out.Role == RoleActive && s.Role != RoleActive {
			out.Role, out.Why = s.Role, s.Why
		}
		out.Reading = out.Reading && s.Reading
		out.Checkpoints += s.Checkpoints
		out.FailedCheckpoints = max(out.FailedCheckpoints, s.FailedCheckpoints)
		out.CheckpointErrors += s.CheckpointErrors
		out.Withheld += s.Withheld
		if s.LastError != "" {
			out.LastError = s.LastError
		}
		if s.LastCheckpointAt.After(out.LastCheckpointAt) {
			out.LastCheckpointAt, out.LastCheckpoint = s.LastCheckpointAt, s.LastCheckpoint
		}
		if s.Store != nil {
			out.Store = s.Store
		}
	}
	return out
}
