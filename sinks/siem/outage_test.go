package siem

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cep-project/cep/sinks/siem/sinktest"
	"github.com/cep-project/cep/sinks/siem/transport"
)

// The destination fails for a while mid-stream, then recovers: every alert
// arrives exactly once by id, in the order it was sent, whether the spool
// is on disk or in memory.
func TestOutageDeliversEveryAlertOnceInOrder(t *testing.T) {
	for _, disk := range []bool{true, false} {
		t.Run(fmt.Sprintf("disk=%v", disk), func(t *testing.T) {
			dest := &sinktest.Memory{}
			c := memConfig("mem", dest)
			if disk {
				c.Spool.Dir = filepath.Join(t.TempDir(), "spool")
			}
			reg := prometheus.NewPedanticRegistry()
			m, err := NewMetrics(reg)
			if err != nil {
				t.Fatal(err)
			}
			opts := quietOptions()
			opts.Metrics = m
			s := startSink(t, c, opts)
			all := sinktest.Numbered(300)
			sendAll(t, s, all[:100])
			sinktest.Eventually(t, 5*time.Second, "first 100", func() bool { return len(dest.IDs()) == 100 })

			dest.Down.Store(true)
			sendAll(t, s, all[100:200])
			sinktest.Eventually(t, 5*time.Second, "spooling during the outage", func() bool { return s.snd.health().SpoolRecords > 0 })
			if h := s.snd.health(); h.State != "spooling" {
				t.Fatalf("health %+v", h)
			}
			dest.Down.Store(false)
			sendAll(t, s, all[200:])
			sinktest.Eventually(t, 10*time.Second, "all 300 after recovery", func() bool { return len(dest.IDs()) >= 300 })
			stopSink(t, s)

			if got := dest.IDs(); !slices.Equal(got, sinktest.WantIDs(300)) {
				t.Fatalf("got %d ids, not the 300 in order: %v", len(got), got)
			}
			if got := testutil.ToFloat64(m.sent.WithLabelValues("mem")); got != 300 {
				t.Fatalf("sent metric %v", got)
			}
			if testutil.ToFloat64(m.spooled.WithLabelValues("mem")) == 0 || testutil.ToFloat64(m.retried.WithLabelValues("mem")) == 0 {
				t.Fatal("spooled or retried not counted")
			}
			if got := testutil.ToFloat64(m.spoolCount.WithLabelValues("mem")); got != 0 {
				t.Fatalf("spool gauge %v after drain", got)
			}
		})
	}
}

// Alerts spooled when the sink stopped are delivered by the next sink
// built on the same spool, before any new alert.
func TestRestartDrainsSpoolFirst(t *testing.T) {
	dest := &sinktest.Memory{}
	dir := filepath.Join(t.TempDir(), "spool")
	c := memConfig("mem", dest)
	c.Spool.Dir = dir
	all := sinktest.Numbered(60)

	dest.Down.Store(true)
	s := startSink(t, c, quietOptions())
	sendAll(t, s, all[:40])
	stopSink(t, s)
	if len(dest.IDs()) != 0 {
		t.Fatal("delivered while down")
	}

	dest.Down.Store(false)
	s2 := startSink(t, c, quietOptions())
	sendAll(t, s2, all[40:])
	sinktest.Eventually(t, 10*time.Second, "all 60", func() bool { return len(dest.IDs()) >= 60 })
	stopSink(t, s2)
	if got := dest.IDs(); !slices.Equal(got, sinktest.WantIDs(60)) {
		t.Fatalf("got %v", got)
	}
}

// With on_full: block a full spool stops the sink taking alerts (Send
// blocks until its context ends) and health says so; drop_oldest keeps
// going and counts what it dropped.
func TestSpoolFullPolicies(t *testing.T) {
	for _, policy := range []string{OnFullBlock, OnFullDropOldest} {
		t.Run(policy, func(t *testing.T) {
			dest := &sinktest.Memory{}
			dest.Down.Store(true)
			c := memConfig("mem", dest)
			c.Spool = SpoolConfig{Dir: t.TempDir(), MaxBytes: minSpoolBytes, OnFull: policy}
			c.Queue = 4
			m, _ := NewMetrics(nil)
			opts := quietOptions()
			opts.Metrics = m
			s := startSink(t, c, opts)
			big := sinktest.Numbered(400)
			for _, a := range big {
				a.Fields["pad"] = fmt.Sprintf("%0900d", 0)
			}
			// Under block, Send must give up at its context's end; under
			// drop_oldest it never waits on the spool, however slow the
			// disk (each append is fsync'd).
			timeout := time.Second
			if policy == OnFullDropOldest {
				timeout = time.Minute
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			var sendErr error
			for _, a := range big {
				if sendErr = s.send(ctx, a); sendErr != nil {
					break
				}
			}
			switch policy {
			case OnFullBlock:
				if sendErr == nil {
					t.Fatal("Send never blocked on a full spool")
				}
				if h := s.snd.health(); h.State != "spool_full" {
					t.Fatalf("health %+v", h)
				}
				if testutil.ToFloat64(m.spoolFull.WithLabelValues("mem")) != 1 {
					t.Fatal("spool_full gauge not set")
				}
			case OnFullDropOldest:
				if sendErr != nil {
					t.Fatal(sendErr)
				}
				sinktest.Eventually(t, 5*time.Second, "drops counted", func() bool {
					return testutil.ToFloat64(m.dropped.WithLabelValues("mem", "spool_full")) > 0
				})
			}
			dest.Down.Store(false)
			stopSink(t, s)
		})
	}
}

// A torn spool tail found at start is cut, reported in health and metrics,
// and the intact alerts before it are still delivered.
func TestStartReportsRepairedSpool(t *testing.T) {
	dest := &sinktest.Memory{}
	dir := t.TempDir()
	sp, _, err := openDiskSpool(dir, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	var payloads [][]byte
	for _, a := range sinktest.Numbered(3) {
		payloads = append(payloads, marshalRecord(nil, &transport.Record{ID: a.ID, Time: a.Time.UnixNano(), Sev: a.Severity, Body: []byte(`{"id":"` + a.ID + `"}`)}))
	}
	if err := sp.append(payloads); err != nil {
		t.Fatal(err)
	}
	if _, err := sp.tail.Write([]byte{9, 0, 0, 0, 1}); err != nil { // a torn fourth record
		t.Fatal(err)
	}
	sp.close()

	m, _ := NewMetrics(nil)
	opts := quietOptions()
	opts.Metrics = m
	c := memConfig("mem", dest)
	c.Spool.Dir = dir
	s := startSink(t, c, opts)
	sinktest.Eventually(t, 5*time.Second, "the three intact alerts", func() bool { return len(dest.IDs()) == 3 })
	h := s.snd.health()
	stopSink(t, s)
	if h.Recovery == nil || h.Recovery.QuarantinedBytes != 5 {
		t.Fatalf("health %+v", h)
	}
	if testutil.ToFloat64(m.failed.WithLabelValues("mem", "spool_corrupt")) != 1 {
		t.Fatal("corruption not counted")
	}
	if !slices.Equal(dest.IDs(), sinktest.WantIDs(3)) {
		t.Fatalf("ids %v", dest.IDs())
	}
}

// The barrier a checkpoint waits on: alerts count as safe once delivered
// or written to a disk spool, not while a sink without a spool directory
// holds them in memory during an outage.
func TestRouterWaitCoversOnlySafeAlerts(t *testing.T) {
	for _, disk := range []bool{false, true} {
		t.Run(fmt.Sprintf("disk=%v", disk), func(t *testing.T) {
			f := &sinktest.Memory{}
			c := memConfig("mem", f)
			if disk {
				c.Spool.Dir = filepath.Join(t.TempDir(), "spool")
			}
			s := startSink(t, c, quietOptions())
			router := &Router{sinks: []*sink{s}}
			defer stopSink(t, s)
			all := sinktest.Numbered(30)
			ctx := context.Background()
			f.Down.Store(true)
			for _, a := range all[:10] {
				if err := router.Send(ctx, a); err != nil {
					t.Fatal(err)
				}
			}
			mark := router.Mark()
			short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			err := router.Wait(short, mark)
			cancel()
			if disk && err != nil {
				t.Fatalf("spooled to disk, yet Wait failed: %v", err)
			}
			if !disk && err == nil {
				t.Fatal("Wait returned while the alerts were only in memory")
			}
			f.Down.Store(false)
			for _, a := range all[10:] {
				if err := router.Send(ctx, a); err != nil {
					t.Fatal(err)
				}
			}
			mark = router.Mark()
			long, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := router.Wait(long, mark); err != nil {
				t.Fatalf("Wait after recovery: %v", err)
			}
			if !disk && len(f.IDs()) < 30 {
				t.Errorf("Wait returned with %d of 30 delivered and no disk spool", len(f.IDs()))
			}
		})
	}
}
