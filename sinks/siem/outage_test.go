package siem

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The destination fails for a while mid-stream, then recovers: every alert
// arrives exactly once by id, in the order it was sent, whether the spool
// is on disk or in memory.
func TestOutageDeliversEveryAlertOnceInOrder(t *testing.T) {
	for _, disk := range []bool{true, false} {
		t.Run(fmt.Sprintf("disk=%v", disk), func(t *testing.T) {
			f, srv := newFakeHEC(t, false)
			c := hecConfig(srv.URL, false, false)
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
			all := numbered(300)
			sendAll(t, s, all[:100])
			eventually(t, 5*time.Second, "first 100", func() bool { return len(f.ids()) == 100 })

			f.down.Store(true)
			sendAll(t, s, all[100:200])
			eventually(t, 5*time.Second, "spooling during the outage", func() bool { return s.Health().SpoolRecords > 0 })
			if s.Health().State != "spooling" {
				t.Fatalf("health %+v", s.Health())
			}
			f.down.Store(false)
			sendAll(t, s, all[200:])
			eventually(t, 10*time.Second, "all 300 after recovery", func() bool { return len(f.ids()) >= 300 })
			stopSink(t, s)

			if got := f.ids(); !equalStrings(got, wantIDs(300)) {
				t.Fatalf("got %d ids, not the 300 in order: %v", len(got), got)
			}
			if got := testutil.ToFloat64(m.sent.WithLabelValues("hec")); got != 300 {
				t.Fatalf("sent metric %v", got)
			}
			if testutil.ToFloat64(m.spooled.WithLabelValues("hec")) == 0 || testutil.ToFloat64(m.retried.WithLabelValues("hec")) == 0 {
				t.Fatal("spooled or retried not counted")
			}
			if got := testutil.ToFloat64(m.spoolCount.WithLabelValues("hec")); got != 0 {
				t.Fatalf("spool gauge %v after drain", got)
			}
		})
	}
}

// Alerts spooled when the sink stopped are delivered by the next sink
// built on the same spool, before any new alert.
func TestRestartDrainsSpoolFirst(t *testing.T) {
	f, srv := newFakeHEC(t, false)
	dir := filepath.Join(t.TempDir(), "spool")
	c := hecConfig(srv.URL, false, false)
	c.Spool.Dir = dir
	all := numbered(60)

	f.down.Store(true)
	s := startSink(t, c, quietOptions())
	sendAll(t, s, all[:40])
	stopSink(t, s)
	if len(f.ids()) != 0 {
		t.Fatal("delivered while down")
	}

	f.down.Store(false)
	s2 := startSink(t, c, quietOptions())
	sendAll(t, s2, all[40:])
	eventually(t, 10*time.Second, "all 60", func() bool { return len(f.ids()) >= 60 })
	stopSink(t, s2)
	if got := f.ids(); !equalStrings(got, wantIDs(60)) {
		t.Fatalf("got %v", got)
	}
}

// With on_full: block a full spool stops the sink taking alerts (Send
// blocks until its context ends) and health says so; drop_oldest keeps
// going and counts what it dropped.
func TestSpoolFullPolicies(t *testing.T) {
	for _, policy := range []string{OnFullBlock, OnFullDropOldest} {
		t.Run(policy, func(t *testing.T) {
			f, srv := newFakeHEC(t, false)
			f.down.Store(true)
			c := hecConfig(srv.URL, false, false)
			c.Spool = SpoolConfig{Dir: t.TempDir(), MaxBytes: minSpoolBytes, OnFull: policy}
			c.Queue = 4
			m, _ := NewMetrics(nil)
			opts := quietOptions()
			opts.Metrics = m
			s := startSink(t, c, opts)
			big := numbered(400)
			for _, a := range big {
				a.Fields["pad"] = fmt.Sprintf("%0900d", 0)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			var sendErr error
			for _, a := range big {
				if sendErr = s.Send(ctx, a); sendErr != nil {
					break
				}
			}
			switch policy {
			case OnFullBlock:
				if sendErr == nil {
					t.Fatal("Send never blocked on a full spool")
				}
				if h := s.Health(); h.State != "spool_full" {
					t.Fatalf("health %+v", h)
				}
				if testutil.ToFloat64(m.spoolFull.WithLabelValues("hec")) != 1 {
					t.Fatal("spool_full gauge not set")
				}
			case OnFullDropOldest:
				if sendErr != nil {
					t.Fatal(sendErr)
				}
				eventually(t, 5*time.Second, "drops counted", func() bool {
					return testutil.ToFloat64(m.dropped.WithLabelValues("hec", "spool_full")) > 0
				})
			}
			f.down.Store(false)
			stopSink(t, s)
		})
	}
}

// A torn spool tail found at start is cut, reported in health and metrics,
// and the intact alerts before it are still delivered.
func TestStartReportsRepairedSpool(t *testing.T) {
	f, srv := newFakeHEC(t, false)
	dir := t.TempDir()
	sp, _, err := openDiskSpool(dir, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var payloads [][]byte
	for _, a := range numbered(3) {
		payloads = append(payloads, (&record{ID: a.ID, Time: a.Time.UnixNano(), Sev: a.Severity, Body: []byte(`{"id":"` + a.ID + `"}`)}).marshal(nil))
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
	c := hecConfig(srv.URL, false, false)
	c.Spool.Dir = dir
	s := startSink(t, c, opts)
	eventually(t, 5*time.Second, "the three intact alerts", func() bool { return len(f.ids()) == 3 })
	h := s.Health()
	stopSink(t, s)
	if h.Recovery == nil || h.Recovery.TruncatedBytes != 5 {
		t.Fatalf("health %+v", h)
	}
	if testutil.ToFloat64(m.failed.WithLabelValues("hec", "spool_corrupt")) != 1 {
		t.Fatal("corruption not counted")
	}
	if !equalStrings(f.ids(), wantIDs(3)) {
		t.Fatalf("ids %v", f.ids())
	}
}

// The barrier a checkpoint waits on: alerts count as safe once delivered
// or written to a disk spool, not while a sink without a spool directory
// holds them in memory during an outage.
func TestRouterWaitCoversOnlySafeAlerts(t *testing.T) {
	for _, disk := range []bool{false, true} {
		t.Run(fmt.Sprintf("disk=%v", disk), func(t *testing.T) {
			f, srv := newFakeHEC(t, false)
			c := hecConfig(srv.URL, false, false)
			if disk {
				c.Spool.Dir = filepath.Join(t.TempDir(), "spool")
			}
			s := startSink(t, c, quietOptions())
			router := NewRouter(s)
			defer stopSink(t, s)
			all := numbered(30)
			ctx := context.Background()
			f.down.Store(true)
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
			f.down.Store(false)
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
			if !disk && len(f.ids()) < 30 {
				t.Errorf("Wait returned with %d of 30 delivered and no disk spool", len(f.ids()))
			}
		})
	}
}
