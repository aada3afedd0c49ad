// Package siemtest runs whole sinks in the tests of transport packages:
// configs with quick retries, a router started and stopped around a test,
// metrics read back by name. It imports the sink core, so the core's own
// tests use sinktest instead.
package siemtest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/sinks/siem"
	"github.com/cep-project/cep/sinks/siem/sinktest"
	"github.com/cep-project/cep/sinks/siem/transport"
)

// FastConfig is a sink config with quick retries.
func FastConfig(name, typ string, block transport.Config) siem.Config {
	return siem.Config{
		Name: name, Type: typ, Transport: block,
		Timeout: 2 * time.Second,
		Batch:   siem.BatchConfig{MaxAlerts: 10, MaxWait: 5 * time.Millisecond},
		Retry:   siem.RetryConfig{MaxAttempts: 2, InitialInterval: time.Millisecond, MaxInterval: 5 * time.Millisecond, Jitter: -1},
		Breaker: siem.BreakerConfig{Failures: 3, Cooldown: 10 * time.Millisecond},
	}
}

// QuietOptions log nowhere.
func QuietOptions() siem.Options {
	return siem.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// Start builds and starts a router over cfgs.
func Start(tb testing.TB, opts siem.Options, cfgs ...siem.Config) *siem.Router {
	tb.Helper()
	r, err := siem.Build(cfgs, opts)
	if err != nil {
		tb.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return r
}

// Stop stops r, allowing ten seconds.
func Stop(tb testing.TB, r *siem.Router) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		tb.Fatal(err)
	}
}

// SendAll routes every alert.
func SendAll(tb testing.TB, r *siem.Router, as []*alert.Alert) {
	tb.Helper()
	for _, a := range as {
		if err := r.Send(context.Background(), a); err != nil {
			tb.Fatal(err)
		}
	}
}

// Health is the health of the router's only (first) sink.
func Health(r *siem.Router) siem.Health { return r.Health()[0] }

// Metric reads the value of the counter or gauge name with the given label
// values from reg; 0 when it has none.
func Metric(tb testing.TB, reg prometheus.Gatherer, name string, labels map[string]string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			return value(m)
		}
	}
	return 0
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return 0
}

// BenchSink measures alerts/s from Send until the destination has them
// (Stop waits for in-flight batches).
func BenchSink(b *testing.B, c siem.Config) {
	b.Helper()
	a := sinktest.SampleAlerts(b)["basic"]
	c.Batch = siem.BatchConfig{MaxAlerts: 500, MaxWait: 5 * time.Millisecond}
	c.Queue = 4096
	r, err := siem.Build([]siem.Config{c}, QuietOptions())
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	if err := r.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	cpu := sinktest.ProcessCPU(b)
	for b.Loop() {
		if err := r.Send(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
	if err := r.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	sinktest.ReportRates(b, cpu)
	if h := Health(r); h.SpoolRecords > 0 {
		b.Fatalf("undelivered: %+v", h)
	}
}
