package siem

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cep-project/cep/alert"
)

// benchAlert is a typical alert: two evidence events, a few fields, ATT&CK
// tags, a score.
func benchAlert(b *testing.B) *alert.Alert {
	b.Helper()
	return sampleAlerts(b)["basic"]
}

// smallAlert is a filter rule's alert: one evidence event, two fields.
func smallAlert(b *testing.B) *alert.Alert {
	b.Helper()
	return &alert.Alert{
		ID: "4f6c2a9e0d1b3c5a7e9f1a2b3c4d5e6f", Rule: "sec.admin-login", RuleVersion: "git:1a2b3c4",
		Title: "Admin login from a new country", Severity: alert.Medium, Tags: []string{"auth", "attack.t1078"},
		Time: baseTime, Key: alert.Key{{Expr: "event.user", Value: "alice"}},
		Events:   []alert.Evidence{{Step: "match", Event: mustEvent(b, "auth", `{"id":"e9","ts":"2025-03-01T12:30:45Z","user":"alice","country":"NZ","ip":"203.0.113.7"}`)}},
		Fields:   map[string]any{"user": "alice", "country": "NZ"},
		Priority: 55,
	}
}

func BenchmarkFormat(b *testing.B) {
	for _, shape := range []string{"small", "rich"} {
		a := smallAlert(b)
		if shape == "rich" {
			a = benchAlert(b)
		}
		for _, name := range Formats {
			b.Run(shape+"/"+name, func(b *testing.B) { benchFormat(b, name, a) })
		}
	}
}

func benchFormat(b *testing.B, name string, a *alert.Alert) {
	b.Helper()
	f, err := NewFormatter(name, Product{Version: "1.0.0"}, "")
	if err != nil {
		b.Fatal(err)
	}
	buf, _ := f.Append(nil, a)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	cpu := processCPU(b)
	for b.Loop() {
		buf, err = f.Append(buf[:0], a)
		if err != nil {
			b.Fatal(err)
		}
	}
	reportRates(b, cpu)
}

// benchSink measures alerts/s from Send until the destination has them
// (Stop waits for in-flight batches).
func benchSink(b *testing.B, c Config) {
	b.Helper()
	a := benchAlert(b)
	c.Batch = BatchConfig{MaxAlerts: 500, MaxWait: 5 * time.Millisecond}
	c.Queue = 4096
	s, err := New(c, quietOptions())
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	cpu := processCPU(b)
	for b.Loop() {
		if err := s.Send(ctx, a); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Stop(ctx); err != nil {
		b.Fatal(err)
	}
	reportRates(b, cpu)
	if h := s.Health(); h.SpoolRecords > 0 {
		b.Fatalf("undelivered: %+v", h)
	}
}

func BenchmarkHEC(b *testing.B) {
	for _, gz := range []bool{false, true} {
		name := "plain"
		if gz {
			name = "gzip"
		}
		b.Run(name, func(b *testing.B) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				_, _ = io.WriteString(w, `{"text":"Success","code":0}`)
			}))
			defer srv.Close()
			c := fastConfig("hec", TypeSplunkHEC)
			c.SplunkHEC = &HECConfig{URL: srv.URL, Token: "t", Gzip: gz}
			benchSink(b, c)
		})
	}
}

func BenchmarkSyslogTCP(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				r := bufio.NewReaderSize(c, 1<<16)
				for {
					if _, err := readFrame(r); err != nil {
						return
					}
				}
			}()
		}
	}()
	c := fastConfig("syslog", TypeSyslog)
	c.Format = FormatCEF
	c.Syslog = &SyslogConfig{Network: "tcp", Address: ln.Addr().String()}
	benchSink(b, c)
}

// reportRates adds alerts per second of wall time and CPU nanoseconds per
// alert (of the whole process: for transports that includes the local
// server, so it is an upper bound of the sink's own cost).
func reportRates(b *testing.B, cpuBefore time.Duration) {
	b.Helper()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "alerts/s")
	if cpu := processCPU(b) - cpuBefore; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
