package siem

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the delivery metrics of every sink, labelled by sink name.
// They are created once per registry and shared by the sinks built with
// them, so that two sinks never register the same collector twice.
type Metrics struct {
	sent        *prometheus.CounterVec
	failed      *prometheus.CounterVec
	retried     *prometheus.CounterVec
	spooled     *prometheus.CounterVec
	dropped     *prometheus.CounterVec
	deadLetter  *prometheus.CounterVec
	truncated   *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	spoolBytes  *prometheus.GaugeVec
	spoolCount  *prometheus.GaugeVec
	spoolFull   *prometheus.GaugeVec
	breakerOpen *prometheus.GaugeVec
}

// NewMetrics creates the sink metrics and registers them with reg; a nil
// reg leaves them unregistered (tests, or a caller that gathers nothing).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "cep", Subsystem: "sink", Name: name, Help: help}, append([]string{"sink"}, labels...))
	}
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "cep", Subsystem: "sink", Name: name, Help: help}, []string{"sink"})
	}
	m := &Metrics{
		sent:        counter("sent_total", "Alerts delivered."),
		failed:      counter("failed_total", "Alerts a destination rejected for good, by reason; they go to the dead-letter file.", "reason"),
		retried:     counter("retried_total", "Batch sends retried after a retryable failure."),
		spooled:     counter("spooled_total", "Alerts written to the spool because the destination was failing."),
		dropped:     counter("dropped_total", "Alerts dropped, by reason (spool_full under on_full: drop_oldest).", "reason"),
		deadLetter:  counter("dead_letter_total", "Alerts written to the dead-letter file."),
		truncated:   counter("truncated_total", "Alerts cut to fit the destination (syslog over UDP)."),
		latency:     prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "cep", Subsystem: "sink", Name: "send_duration_seconds", Help: "Duration of one batch send.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)}, []string{"sink"}),
		spoolBytes:  gauge("spool_bytes", "Bytes waiting in the spool."),
		spoolCount:  gauge("spool_records", "Alerts waiting in the spool."),
		spoolFull:   gauge("spool_full", "1 while the spool is full."),
		breakerOpen: gauge("breaker_open", "1 while the circuit breaker refuses calls."),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.sent, m.failed, m.retried, m.spooled, m.dropped, m.deadLetter, m.truncated, m.latency, m.spoolBytes, m.spoolCount, m.spoolFull, m.breakerOpen} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// sinkMetrics are one sink's children of Metrics, resolved once.
type sinkMetrics struct {
	sent, retried, spooled, deadLetter prometheus.Counter
	truncated                          prometheus.Counter
	latency                            prometheus.Observer
	spoolBytes, spoolCount, spoolFull  prometheus.Gauge
	breakerOpen                        prometheus.Gauge
	failed, dropped                    *prometheus.CounterVec
	name                               string
}

func (m *Metrics) forSink(name string) *sinkMetrics {
	return &sinkMetrics{
		name:        name,
		sent:        m.sent.WithLabelValues(name),
		retried:     m.retried.WithLabelValues(name),
		spooled:     m.spooled.WithLabelValues(name),
		deadLetter:  m.deadLetter.WithLabelValues(name),
		truncated:   m.truncated.WithLabelValues(name),
		latency:     m.latency.WithLabelValues(name),
		spoolBytes:  m.spoolBytes.WithLabelValues(name),
		spoolCount:  m.spoolCount.WithLabelValues(name),
		spoolFull:   m.spoolFull.WithLabelValues(name),
		breakerOpen: m.breakerOpen.WithLabelValues(name),
		failed:      m.failed,
		dropped:     m.dropped,
	}
}

func (s *sinkMetrics) fail(reason string, n int) {
	s.failed.WithLabelValues(s.name, reason).Add(float64(n))
}

func (s *sinkMetrics) drop(reason string, n int) {
	s.dropped.WithLabelValues(s.name, reason).Add(float64(n))
}
