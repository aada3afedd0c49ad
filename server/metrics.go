package server

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/runtime"
	"github.com/cep-project/cep/runtime/scaleout"
)

// Metrics is the one Prometheus collector over the runtime's statistics,
// the reloader's status and ingest's counters. Every metric name is
// written once, in the tables below; the README's metrics list is checked
// against them.
type Metrics struct {
	Runtime  Runner
	Reloader *runtime.Reloader
	Ingest   *Ingest
	// ScaleOut, when set, is the process's share of a scaled-out group.
	ScaleOut *scaleout.Group
}

// Runner is what the health and metrics endpoints read: a runtime, or a
// scaled-out process's tasks merged.
type Runner interface {
	Stats() *runtime.Statistics
	Status() runtime.Status
}

type valueKind = prometheus.ValueType

const (
	counter = prometheus.CounterValue
	gauge   = prometheus.GaugeValue
)

// engineMetric is a metric of the whole engine.
type engineMetric struct {
	name, help string
	kind       valueKind
	value      func(*runtime.Statistics) (float64, bool)
}

func stat(f func(s correlate.Stats) uint64) func(*runtime.Statistics) (float64, bool) {
	return func(s *runtime.Statistics) (float64, bool) { return float64(f(s.Engine)), true }
}

var engineMetrics = []engineMetric{
	{"cep_events_total", "Events received from sources.", counter, stat(func(s correlate.Stats) uint64 { return s.Events })},
	{"cep_events_malformed_total", "Input lines skipped because they are not valid events.", counter, func(s *runtime.Statistics) (float64, bool) {
		var n uint64
		for _, c := range s.Sources {
			n += c.Malformed.Load()
		}
		return float64(n), true
	}},
	{"cep_events_late_total", "Events behind the watermark.", counter, stat(func(s correlate.Stats) uint64 { return s.Late })},
	{"cep_events_late_dropped_total", "Late events dropped under late: drop.", counter, stat(func(s correlate.Stats) uint64 { return s.LateDropped })},
	{"cep_alerts_total", "Alerts produced.", counter, stat(func(s correlate.Stats) uint64 { return s.Alerts })},
	{"cep_alerts_deduplicated_total", "Alerts suppressed by alert.dedup.", counter, stat(func(s correlate.Stats) uint64 { return s.Deduped })},
	{"cep_key_errors_total", "Events a rule skipped because its key could not be computed.", counter, stat(func(s correlate.Stats) uint64 { return s.KeyErrors })},
	{"cep_events_without_key_total", "Events a stateful rule skipped because they lack its key field.", counter, stat(func(s correlate.Stats) uint64 { return s.KeyMissing })},
	{"cep_events_late_for_window_total", "Events that reached a window or join after it had closed.", counter, stat(func(s correlate.Stats) uint64 { return s.LateInWindow })},
	{"cep_events_shed_total", "Events dropped by state limits (keys, buffers).", counter, stat(func(s correlate.Stats) uint64 { return s.Shed })},
	{"cep_state_shed_total", "Partial matches, window keys and buffered join events dropped to keep detector state within max_state_bytes.", counter, stat(func(s correlate.Stats) uint64 { return s.StateShed })},
	{"cep_state_bytes", "Estimated memory of all detector state at the last budget check.", gauge, func(s *runtime.Statistics) (float64, bool) { return float64(s.Engine.StateBytes), true }},
	{"cep_reorder_buffered_bytes", "Estimated memory of the events waiting in the reorder buffer.", gauge, func(s *runtime.Statistics) (float64, bool) { return float64(s.Engine.BufferedBytes), true }},
	{"cep_held_lines_packed_total", "Lines of events held by detectors that were packed because detector state was past a quarter of max_state_bytes.", counter, stat(func(s correlate.Stats) uint64 { return s.LinesPacked })},
	{"cep_events_released_early_total", "Events the reorder buffer let go before the watermark passed them, to stay within max_buffer_bytes.", counter, stat(func(s correlate.Stats) uint64 { return s.ReleasedEarly })},
	{"cep_events_quarantined_total", "Events set aside because their time is far ahead of their stream or the wall clock.", counter, stat(func(s correlate.Stats) uint64 { return s.Quarantined })},
	{"cep_partials_dropped_total", "Partial sequence matches dropped by the per-key or total limit.", counter, stat(func(s correlate.Stats) uint64 { return s.PartialsDropped })},
	{"cep_partials_expired_total", "Partial sequence matches that expired.", counter, stat(func(s correlate.Stats) uint64 { return s.PartialsExpired })},
	{"cep_partials", "Live partial sequence matches.", gauge, func(s *runtime.Statistics) (float64, bool) { return float64(s.Engine.Partials), true }},
	{"cep_partials_bytes", "Estimated memory of live partial sequence matches.", gauge, func(s *runtime.Statistics) (float64, bool) { return float64(s.Engine.PartialBytes), true }},
	{"cep_watermark_seconds", "Event time up to which every event has been processed.", gauge, func(s *runtime.Statistics) (float64, bool) {
		wm := s.Engine.Watermark
		return float64(wm) / 1e9, wm > 0 && wm < correlate.MaxTime
	}},
	{"cep_reorder_buffered_events", "Events waiting in the reorder buffer.", gauge, func(s *runtime.Statistics) (float64, bool) { return float64(s.Engine.Buffered), true }},
	{"cep_engine_busy_seconds_total", "Wall time the engine's goroutine spent on events and timers (routing, detectors, alerts handed to the sinks), summed over a scaled-out process's tasks: a rate near 1 per task means the engine bounds throughput.", counter, func(s *runtime.Statistics) (float64, bool) {
		return s.EngineBusy.Seconds(), true
	}},
	{"cep_checkpoints_total", "Checkpoints committed.", counter, func(s *runtime.Statistics) (float64, bool) { return float64(s.Checkpoints), true }},
	{"cep_checkpoint_errors_total", "Checkpoints that failed.", counter, func(s *runtime.Statistics) (float64, bool) { return float64(s.CheckpointErrors), true }},
	{"cep_checkpoint_duration_seconds", "Time of the newest checkpoint from its start to its commit, waiting for the sinks included.", gauge, func(s *runtime.Statistics) (float64, bool) {
		if s.LastCheckpoint == nil {
			return 0, false
		}
		return s.LastCheckpoint.Took.Seconds(), true
	}},
	{"cep_checkpoint_pause_seconds", "Time the loop was paused to write the newest checkpoint's state.", gauge, func(s *runtime.Statistics) (float64, bool) {
		if s.LastCheckpoint == nil {
			return 0, false
		}
		return s.LastCheckpoint.Snapshot.Seconds(), true
	}},
	{"cep_checkpoint_bytes", "Size of the newest checkpoint's entries.", gauge, func(s *runtime.Statistics) (float64, bool) {
		if s.LastCheckpoint == nil {
			return 0, false
		}
		return float64(s.LastCheckpoint.Bytes), true
	}},
}

// ruleMetric is a metric per rule.
type ruleMetric struct {
	name, help string
	kind       valueKind
	value      func(st *runtime.Statistics, id string, errs uint64) (float64, bool)
}

var ruleMetrics = []ruleMetric{
	{"cep_rule_events_evaluated_total", "Events handed to the rule's detector.", counter, func(s *runtime.Statistics, id string, _ uint64) (float64, bool) {
		return float64(s.RuleStats[id].Evaluated), true
	}},
	{"cep_rule_alerts_total", "Alerts of the rule (after dedup, group and throttle), shadow ones included.", counter, func(s *runtime.Statistics, id string, _ uint64) (float64, bool) {
		return float64(s.RuleStats[id].Alerts), true
	}},
	{"cep_rule_shadow_alerts_total", "Alerts of the rule marked shadow (status: experimental): evaluated, not forwarded.", counter, func(s *runtime.Statistics, id string, _ uint64) (float64, bool) {
		return float64(s.RuleStats[id].Shadow), true
	}},
	{"cep_rule_eval_errors_total", "Evaluations of a rule's expressions that failed (the condition counted as false).", counter, func(_ *runtime.Statistics, _ string, errs uint64) (float64, bool) {
		return float64(errs), true
	}},
	{"cep_rule_events_shed_total", "Events the rule's state limits dropped.", counter, func(s *runtime.Statistics, id string, _ uint64) (float64, bool) {
		return float64(s.RuleStats[id].Shed), true
	}},
	{"cep_rule_state_shed_total", "Partial matches, window keys or join events of the rule dropped by the state budget.", counter, func(s *runtime.Statistics, id string, _ uint64) (float64, bool) {
		return float64(s.RuleStats[id].ShedItems), true
	}},
	{"cep_rule_state_shed_bytes_total", "Estimated bytes of the rule's state the budget dropped.", counter, func(s *runtime.Statistics, id string, _ uint64) (float64, bool) {
		return float64(s.RuleStats[id].ShedBytes), true
	}},
	{"cep_rule_state_keys", "Keys with state in the rule's detector.", gauge, func(s *runtime.Statistics, id string, _ uint64) (float64, bool) {
		st, ok := s.RuleStates[id]
		return float64(st.Keys), ok
	}},
	{"cep_rule_state_bytes", "Estimated memory of the rule's detector state.", gauge, func(s *runtime.Statistics, id string, _ uint64) (float64, bool) {
		rs, ok := s.RuleStats[id]
		return float64(rs.Bytes), ok
	}},
}

var (
	ruleDescs   = map[string]*prometheus.Desc{}
	engineDescs = map[string]*prometheus.Desc{}
	ruleInfo    = prometheus.NewDesc("cep_rule_info", "A rule that runs, with its version, status and kind (value 1).", []string{"rule", "version", "status", "kind"}, nil)
	stateKind   = prometheus.NewDesc("cep_state_keys_by_kind", "Keys with detector state, by detector kind.", []string{"kind"}, nil)
	streamTime  = prometheus.NewDesc("cep_stream_event_time_seconds", "Event time of the stream's newest event.", []string{"stream"}, nil)
	streamLag   = prometheus.NewDesc("cep_stream_watermark_lag_seconds", "Wall time minus the event time of the stream's newest event, when published.", []string{"stream"}, nil)
	streamIdle  = prometheus.NewDesc("cep_stream_idle", "1 while the stream is idle (silent past engine.idle_timeout) and does not hold event time back.", []string{"stream"}, nil)
	srcEvents   = prometheus.NewDesc("cep_source_events_total", "Events a source delivered.", []string{"source"}, nil)
	srcBad      = prometheus.NewDesc("cep_source_malformed_total", "Lines a source skipped as malformed.", []string{"source"}, nil)
	srcBytes    = prometheus.NewDesc("cep_source_bytes_total", "Bytes a source read.", []string{"source"}, nil)
	reloads     = prometheus.NewDesc("cep_reloads_total", "Rule reloads by outcome (ok, failed, unchanged).", []string{"outcome"}, nil)
	reloadOK    = prometheus.NewDesc("cep_rules_reload_ok", "1 when the last reload succeeded, 0 while the rules that run are older than their sources.", nil, nil)
	reloadTime  = prometheus.NewDesc("cep_rules_last_reload_success_timestamp_seconds", "Wall time of the last successful load of the rules.", nil, nil)
	ingestReqs  = prometheus.NewDesc("cep_ingest_requests_total", "HTTP ingest requests by stream and status code.", []string{"stream", "code"}, nil)
	ingestPend  = prometheus.NewDesc("cep_ingest_pending_events", "Events taken by HTTP ingest and not yet pushed to the engine.", nil, nil)
	stateRole   = prometheus.NewDesc("cep_state_role", "1 for the role the process has now: starting, standby (waiting for the state's lease), active, paused (checkpoints failing), suspended (lease unconfirmed), fenced (lease lost), stopping, stopped.", []string{"role"}, nil)
	reading     = prometheus.NewDesc("cep_state_reading", "1 while the sources are read.", nil, nil)
	rebalances  = prometheus.NewDesc("cep_scaleout_rebalances_total", "Task assignments this process received from its consumer group.", nil, nil)
	joinErrors  = prometheus.NewDesc("cep_scaleout_join_errors_total", "Failed attempts to join the consumer group.", nil, nil)
	taskRuns    = prometheus.NewDesc("cep_scaleout_task_starts_total", "Tasks (partition numbers) this process started, each restored from its newest checkpoint.", nil, nil)
	tasksNow    = prometheus.NewDesc("cep_scaleout_tasks", "Tasks (partition numbers) this process runs now.", nil, nil)
	failsInRow  = prometheus.NewDesc("cep_checkpoint_failures_in_a_row", "Checkpoints that failed since the last one that succeeded.", nil, nil)
	withheld    = prometheus.NewDesc("cep_alerts_withheld_total", "Alerts not handed to a sink because the state's lease was not confirmed when they were made.", nil, nil)
	storeUp     = prometheus.NewDesc("cep_state_store_up", "1 while the state store's backend (Redis) answers.", nil, nil)
	srcSkipped  = prometheus.NewDesc("cep_source_copies_skipped_total", "Copies read from a repartition topic and skipped: written twice by a copier that restarted from its checkpoint.", []string{"source"}, nil)
	srcRekeyed  = prometheus.NewDesc("cep_source_rekeyed_total", "Copies of a source's events written to repartition topics (scale-out).", []string{"source"}, nil)
	srcScreened = prometheus.NewDesc("cep_source_events_screened_total", "Events a source decoded with only the fields rules are indexed by, since no rule could reach them.", []string{"source"}, nil)
	srcLost     = prometheus.NewDesc("cep_source_lost_total", "Input deleted upstream before cep read it (Kafka messages removed by retention while cep lagged).", []string{"source"}, nil)
	srcLag      = prometheus.NewDesc("cep_source_lag_messages", "Messages of a partition not yet read, as the broker last told (Kafka sources), by source and partition (topic/partition).", []string{"source", "partition"}, nil)
	storeErrs   = prometheus.NewDesc("cep_state_store_errors_total", "Calls to the state store's backend (Redis) that failed.", nil, nil)
)

var otherDescs = []*prometheus.Desc{ruleInfo, stateKind, streamTime, streamLag, streamIdle, srcEvents, srcBad, srcBytes, srcLost, srcRekeyed, srcSkipped, srcScreened, srcLag, reloads, reloadOK, reloadTime, ingestReqs, ingestPend,
	stateRole, reading, failsInRow, withheld, storeUp, storeErrs, rebalances, joinErrors, taskRuns, tasksNow}

// roles are the values of cep_state_role's label.
var roles = []string{runtime.RoleStarting, runtime.RoleStandby, runtime.RoleActive, runtime.RolePaused,
	runtime.RoleSuspended, runtime.RoleFenced, runtime.RoleStopping, runtime.RoleStopped}

func init() {
	for _, m := range engineMetrics {
		engineDescs[m.name] = prometheus.NewDesc(m.name, m.help, nil, nil)
	}
	for _, m := range ruleMetrics {
		ruleDescs[m.name] = prometheus.NewDesc(m.name, m.help, []string{"rule"}, nil)
	}
}

// Names lists every metric name the collector exports, for the README
// check.
func Names() []string {
	var out []string
	for _, m := range engineMetrics {
		out = append(out, m.name)
	}
	for _, m := range ruleMetrics {
		out = append(out, m.name)
	}
	for _, d := range otherDescs {
		out = append(out, descName(d))
	}
	return out
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range engineDescs {
		ch <- d
	}
	for _, d := range ruleDescs {
		ch <- d
	}
	for _, d := range otherDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	if st := m.Runtime.Stats(); st != nil {
		m.collectRuntime(ch, st)
	}
	m.collectStatus(ch, m.Runtime.Status())
	if m.Reloader != nil {
		s := m.Reloader.Status()
		for _, o := range []string{runtime.ReloadOK, runtime.ReloadFailed, runtime.ReloadUnchanged} {
			ch <- prometheus.MustNewConstMetric(reloads, counter, float64(s.Outcomes[o]), o)
		}
		ok := 0.0
		if s.OK {
			ok = 1
		}
		ch <- prometheus.MustNewConstMetric(reloadOK, gauge, ok)
		if !s.LastSuccess.IsZero() {
			ch <- prometheus.MustNewConstMetric(reloadTime, gauge, float64(s.LastSuccess.UnixNano())/1e9)
		}
	}
	if g := m.ScaleOut; g != nil {
		c := g.Counts()
		ch <- prometheus.MustNewConstMetric(rebalances, counter, float64(c.Rebalances.Load()))
		ch <- prometheus.MustNewConstMetric(joinErrors, counter, float64(c.JoinErrors.Load()))
		ch <- prometheus.MustNewConstMetric(taskRuns, counter, float64(c.TasksStarted.Load()))
		ch <- prometheus.MustNewConstMetric(tasksNow, gauge, float64(len(g.Tasks())))
	}
	if in := m.Ingest; in != nil {
		for k, v := range in.Requests() {
			ch <- prometheus.MustNewConstMetric(ingestReqs, counter, float64(v), k[0], k[1])
		}
		ch <- prometheus.MustNewConstMetric(ingestPend, gauge, float64(in.Pending()))
	}
}

func (m *Metrics) collectRuntime(ch chan<- prometheus.Metric, st *runtime.Statistics) {
	for _, em := range engineMetrics {
		if v, ok := em.value(st); ok {
			ch <- prometheus.MustNewConstMetric(engineDescs[em.name], em.kind, v)
		}
	}
	byKind := map[string]float64{}
	for _, r := range st.Rules {
		errs := r.Health.Errors()
		for _, rm := range ruleMetrics {
			if v, ok := rm.value(st, r.ID, errs); ok {
				ch <- prometheus.MustNewConstMetric(ruleDescs[rm.name], rm.kind, v, r.ID)
			}
		}
		ch <- prometheus.MustNewConstMetric(ruleInfo, gauge, 1, r.ID, r.VersionLabel(), r.Status, r.Kind.String())
		if s, ok := st.RuleStates[r.ID]; ok {
			byKind[r.Kind.String()] += float64(s.Keys)
		}
	}
	for kind, n := range byKind {
		ch <- prometheus.MustNewConstMetric(stateKind, gauge, n, kind)
	}
	for name, c := range st.Streams {
		idle := 0.0
		if c.Idle {
			idle = 1
		}
		ch <- prometheus.MustNewConstMetric(streamIdle, gauge, idle, name)
		if c.Newest.IsZero() {
			continue
		}
		ch <- prometheus.MustNewConstMetric(streamTime, gauge, float64(c.Newest.UnixNano())/1e9, name)
		ch <- prometheus.MustNewConstMetric(streamLag, gauge, max(0, st.Time.Sub(c.Newest).Seconds()), name)
	}
	for name, c := range st.Sources {
		ch <- prometheus.MustNewConstMetric(srcEvents, counter, float64(c.Events.Load()), name)
		ch <- prometheus.MustNewConstMetric(srcBad, counter, float64(c.Malformed.Load()), name)
		ch <- prometheus.MustNewConstMetric(srcBytes, counter, float64(c.Bytes.Load()), name)
		ch <- prometheus.MustNewConstMetric(srcLost, counter, float64(c.Lost.Load()), name)
		if n := c.Rekeyed.Load(); n > 0 {
			ch <- prometheus.MustNewConstMetric(srcRekeyed, counter, float64(n), name)
		}
		if n := c.Duplicates.Load(); n > 0 {
			ch <- prometheus.MustNewConstMetric(srcSkipped, counter, float64(n), name)
		}
		if n := c.Screened.Load(); n > 0 {
			ch <- prometheus.MustNewConstMetric(srcScreened, counter, float64(n), name)
		}
		for lane, n := range c.Lag.Snapshot() {
			ch <- prometheus.MustNewConstMetric(srcLag, gauge, float64(n), name, lane)
		}
	}
}

// descName extracts a Desc's metric name.
func descName(d *prometheus.Desc) string {
	s := d.String()
	const p = `fqName: "`
	for i := 0; i+len(p) < len(s); i++ {
		if s[i:i+len(p)] == p {
			rest := s[i+len(p):]
			for j := 0; j < len(rest); j++ {
				if rest[j] == '"' {
					return rest[:j]
				}
			}
		}
	}
	return s
}

// collectStatus exports the runtime's role and its state store's health,
// which a standby has before it publishes any statistics.
func (m *Metrics) collectStatus(ch chan<- prometheus.Metric, st runtime.Status) {
	one := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	for _, r := range roles {
		ch <- prometheus.MustNewConstMetric(stateRole, gauge, one(st.Role == r), r)
	}
	ch <- prometheus.MustNewConstMetric(reading, gauge, one(st.Reading))
	ch <- prometheus.MustNewConstMetric(failsInRow, gauge, float64(st.FailedCheckpoints))
	ch <- prometheus.MustNewConstMetric(withheld, counter, float64(st.Withheld))
	if h := st.Store; h != nil {
		ch <- prometheus.MustNewConstMetric(storeUp, gauge, one(h.Up))
		ch <- prometheus.MustNewConstMetric(storeErrs, counter, float64(h.Failures))
	}
}
