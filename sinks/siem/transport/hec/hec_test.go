package hec

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cep-project/cep/sinks/siem"
	"github.com/cep-project/cep/sinks/siem/format"
	"github.com/cep-project/cep/sinks/siem/siemtest"
	"github.com/cep-project/cep/sinks/siem/sinktest"
)

// fakeHEC behaves like Splunk's HTTP Event Collector: it checks the token
// and channel, takes gzip, splits batches of concatenated event objects,
// and with ack on answers ackIds that become true after a few polls.
type fakeHEC struct {
	t        testing.TB
	token    string
	ack      bool
	ackAfter int // polls before an ack turns true
	down     atomic.Bool
	mu       sync.Mutex
	events   []map[string]any
	pending  map[int64][]map[string]any
	polls    map[int64]int
	nextAck  int64
	requests atomic.Int64
	gzipped  atomic.Int64
}

func newFakeHEC(t testing.TB, ack bool) (*fakeHEC, *httptest.Server) {
	t.Helper()
	f := &fakeHEC{t: t, token: "tok-123", ack: ack, ackAfter: 2, pending: map[int64][]map[string]any{}, polls: map[int64]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /services/collector/event", f.event)
	mux.HandleFunc("POST /services/collector/ack", f.ackPoll)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeHEC) auth(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") != "Splunk "+f.token {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"text":"Invalid token","code":4}`)
		return false
	}
	if f.ack && r.Header.Get("X-Splunk-Request-Channel") == "" {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"text":"Data channel is missing","code":10}`)
		return false
	}
	return true
}

func (f *fakeHEC) event(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if f.down.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"text":"Server is busy","code":9}`)
		return
	}
	if !f.auth(w, r) {
		return
	}
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		f.gzipped.Add(1)
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		body = zr
	}
	dec := json.NewDecoder(body)
	var batch []map[string]any
	for dec.More() {
		var ev map[string]any
		if err := dec.Decode(&ev); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"text":"Invalid data format","code":6}`)
			return
		}
		if _, ok := ev["event"]; !ok {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"text":"Event field is required","code":12}`)
			return
		}
		batch = append(batch, ev)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.ack {
		f.events = append(f.events, batch...)
		io.WriteString(w, `{"text":"Success","code":0}`)
		return
	}
	id := f.nextAck
	f.nextAck++
	f.pending[id] = batch
	io.WriteString(w, `{"text":"Success","code":0,"ackId":`+strconv.FormatInt(id, 10)+`}`)
}

func (f *fakeHEC) ackPoll(w http.ResponseWriter, r *http.Request) {
	if !f.auth(w, r) {
		return
	}
	var q struct{ Acks []int64 }
	if err := json.NewDecoder(r.Body).Decode(&q); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]bool{}
	for _, id := range q.Acks {
		f.polls[id]++
		done := f.polls[id] > f.ackAfter
		if done && f.pending[id] != nil {
			f.events = append(f.events, f.pending[id]...)
			delete(f.pending, id)
		}
		out[strconv.FormatInt(id, 10)] = done
	}
	json.NewEncoder(w).Encode(map[string]any{"acks": out})
}

// ids returns the alert ids received, in order.
func (f *fakeHEC) ids() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, 0, len(f.events))
	for _, ev := range f.events {
		switch e := ev["event"].(type) {
		case map[string]any:
			out = append(out, e["id"].(string))
		case string:
			out = append(out, e)
		}
	}
	return out
}

func hecConfig(url string, ack, gz bool) siem.Config {
	return siemtest.FastConfig("hec", Kind, &Config{URL: url, Token: "tok-123", Index: "alerts", Ack: ack, Gzip: gz, AckPollInterval: time.Millisecond})
}

func TestHEC(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ack, gz bool
	}{{"plain", false, false}, {"gzip", false, true}, {"ack", true, false}, {"ack+gzip", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			f, srv := newFakeHEC(t, tc.ack)
			s := siemtest.Start(t, siemtest.QuietOptions(), hecConfig(srv.URL, tc.ack, tc.gz))
			siemtest.SendAll(t, s, sinktest.Numbered(35))
			siemtest.Stop(t, s)
			if got := f.ids(); !slices.Equal(got, sinktest.WantIDs(35)) {
				t.Fatalf("got %v", got)
			}
			if tc.gz && f.gzipped.Load() == 0 {
				t.Fatal("no gzip request")
			}
			f.mu.Lock()
			ev := f.events[0]
			f.mu.Unlock()
			if ev["index"] != "alerts" || ev["sourcetype"] != "cep:alert:json" || ev["time"] != float64(sinktest.BaseTime.UnixMilli())/1000 {
				t.Fatalf("envelope %v", ev)
			}
		})
	}
}

func TestHECTextFormatIsAString(t *testing.T) {
	f, srv := newFakeHEC(t, false)
	c := hecConfig(srv.URL, false, false)
	c.Format = format.CEF
	s := siemtest.Start(t, siemtest.QuietOptions(), c)
	siemtest.SendAll(t, s, sinktest.Numbered(1))
	siemtest.Stop(t, s)
	got := f.ids()
	if len(got) != 1 || !bytes.HasPrefix([]byte(got[0]), []byte("CEF:0|")) {
		t.Fatalf("got %q", got)
	}
}

func TestHECBadTokenIsSpooledNotLost(t *testing.T) {
	f, srv := newFakeHEC(t, false)
	c := hecConfig(srv.URL, false, false)
	c.Transport.(*Config).Token = "wrong"
	c.Spool.Dir = t.TempDir()
	s := siemtest.Start(t, siemtest.QuietOptions(), c)
	siemtest.SendAll(t, s, sinktest.Numbered(3))
	sinktest.Eventually(t, 5*time.Second, "alerts spooled", func() bool { return siemtest.Health(s).SpoolRecords == 3 })
	if h := siemtest.Health(s); h.State != "spooling" || h.LastError == "" {
		t.Fatalf("health %+v", h)
	}
	siemtest.Stop(t, s)
	if len(f.ids()) != 0 {
		t.Fatal("delivered with a bad token")
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
			siemtest.BenchSink(b, siemtest.FastConfig("hec", Kind, &Config{URL: srv.URL, Token: "t", Gzip: gz}))
		})
	}
}
