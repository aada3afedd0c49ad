package server

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/time/rate"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/runtime"
	"github.com/cep-project/cep/source"
)

func TestCheckExposure(t *testing.T) {
	cases := []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:9465", "", true},
		{"localhost:9465", "", true},
		{"[::1]:9465", "", true},
		{":9465", "", false},
		{"0.0.0.0:9465", "", false},
		{"10.0.0.5:9465", "", false},
		{":9465", "t", true},
	}
	for _, c := range cases {
		if err := CheckExposure(c.addr, c.token); (err == nil) != c.ok {
			t.Errorf("%s with token %q: %v", c.addr, c.token, err)
		}
	}
}

func TestGuard(t *testing.T) {
	h := (&Guard{Token: "s3cret", Limiter: rate.NewLimiter(rate.Limit(1e-9), 3), MaxBody: 10}).Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		if _, err := b.ReadFrom(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	do := func(token, body string) int {
		req := httptest.NewRequest("POST", "/v1/reload", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if c := do("", ""); c != http.StatusUnauthorized {
		t.Errorf("no token: %d", c)
	}
	if c := do("wrong", ""); c != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", c)
	}
	if c := do("s3cret", "short"); c != http.StatusNoContent {
		t.Errorf("good request: %d", c)
	}
	if c := do("s3cret", strings.Repeat("x", 100)); c != http.StatusRequestEntityTooLarge {
		t.Errorf("large body: %d", c)
	}
	do("s3cret", "")
	if c := do("s3cret", ""); c != http.StatusTooManyRequests {
		t.Errorf("over the rate: %d", c)
	}
}

// pump stands in for the runtime: it takes the ingest's batches and
// "pushes" them when let.
func pump(t *testing.T, in *Ingest, let <-chan struct{}) (*[]string, context.CancelFunc, *sync.WaitGroup) {
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan source.Batch)
	var got []string
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = in.Run(ctx, nil, out) }()
	go func() {
		defer wg.Done()
		for {
			select {
			case b := <-out:
				if let != nil {
					<-let
				}
				for _, ev := range b.Events {
					got = append(got, ev.ID)
				}
				b.Pushed()
			case <-ctx.Done():
				return
			}
		}
	}()
	return &got, cancel, &wg
}

func post(h http.Handler, stream, body string, gz bool) *httptest.ResponseRecorder {
	var rd = strings.NewReader(body)
	req := httptest.NewRequest("POST", "/v1/events/"+stream, rd)
	if gz {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(body))
		zw.Close()
		req = httptest.NewRequest("POST", "/v1/events/"+stream, &b)
		req.Header.Set("Content-Encoding", "gzip")
	}
	req.SetPathValue("stream", stream)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestIngest(t *testing.T) {
	in := &Ingest{SourceName: "http", Specs: []source.Spec{{Stream: "auth"}}, MaxBody: 4096}
	got, stop, wg := pump(t, in, nil)
	if r := post(in, "auth", `{"id":"a","ts":1}`+"\n"+`{"id":"b","ts":2}`, false); r.Code != 200 {
		t.Fatalf("JSON lines: %d %s", r.Code, r.Body)
	}
	if r := post(in, "auth", `[{"id":"c","ts":3}, {"id":"d","ts":4}]`, true); r.Code != 200 {
		t.Fatalf("gzipped JSON array: %d %s", r.Code, r.Body)
	}
	if r := post(in, "auth", `{"id":"e","ts":5}`+"\n{oops\n", false); r.Code != 400 || !strings.Contains(r.Body.String(), "event 2") {
		t.Errorf("a malformed line: %d %s", r.Code, r.Body)
	}
	if r := post(in, "other", `{"id":"x","ts":1}`, false); r.Code != 404 {
		t.Errorf("unknown stream: %d", r.Code)
	}
	if r := post(in, "auth", strings.Repeat(" ", 5000), false); r.Code != 413 {
		t.Errorf("large body: %d", r.Code)
	}
	stop()
	wg.Wait()
	if strings.Join(*got, ",") != "a,b,c,d" {
		t.Errorf("pushed %v", *got)
	}
	if in.Requests()[[2]string{"auth", "200"}] != 2 || in.Requests()[[2]string{"auth", "400"}] != 1 {
		t.Errorf("requests %v", in.Requests())
	}
}

// TestIngestBackPressure fills the pipeline: requests beyond the bound
// get 429 with Retry-After, and every request answered 200 was pushed.
func TestIngestBackPressure(t *testing.T) {
	in := &Ingest{SourceName: "http", Specs: []source.Spec{{Stream: "s"}}, MaxPending: 4}
	let := make(chan struct{})
	got, stop, wg := pump(t, in, let)
	type answer struct {
		code  int
		retry string
		ids   []string
	}
	answers := make(chan answer, 20)
	var reqs sync.WaitGroup
	send := func(i int) {
		ids := []string{fmt.Sprintf("e%d-1", i), fmt.Sprintf("e%d-2", i)}
		r := post(in, "s", fmt.Sprintf(`{"id":%q,"ts":1}`+"\n"+`{"id":%q,"ts":2}`, ids[0], ids[1]), false)
		answers <- answer{r.Code, r.Header().Get("Retry-After"), ids}
	}
	// Two requests fill the bound and wait for the held pump; the test
	// waits for that rather than hoping a crowd of goroutines piles up
	// before the pump is let go, which a busy machine need not do.
	for i := range 2 {
		reqs.Add(1)
		go func() { defer reqs.Done(); send(i) }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for in.Pending() < 4 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if in.Pending() != 4 {
		t.Fatalf("%d events pending, want the bound of 4", in.Pending())
	}
	for i := 2; i < 10; i++ {
		send(i)
	}
	close(let)
	reqs.Wait()
	// With the pump going again, a request is taken.
	send(10)
	close(answers)
	stop()
	wg.Wait()
	pushed := map[string]bool{}
	for _, id := range *got {
		pushed[id] = true
	}
	var ok, limited int
	for a := range answers {
		switch a.code {
		case 200:
			ok++
			for _, id := range a.ids {
				if !pushed[id] {
					t.Errorf("accepted %s was not pushed", id)
				}
			}
		case 429:
			limited++
			if a.retry == "" {
				t.Error("429 without Retry-After")
			}
		default:
			t.Errorf("status %d", a.code)
		}
	}
	if ok != 3 || limited != 8 {
		t.Errorf("%d accepted, %d limited: want 3 and 8", ok, limited)
	}
}

// TestIngestRequestOverBound: a request holding more events than the
// whole bound could never be taken, so it is refused as too large rather
// than told to retry.
func TestIngestRequestOverBound(t *testing.T) {
	in := &Ingest{SourceName: "http", Specs: []source.Spec{{Stream: "s"}}, MaxPending: 2}
	r := post(in, "s", `{"id":"a","ts":1}`+"\n"+`{"id":"b","ts":2}`+"\n"+`{"id":"c","ts":3}`, false)
	if r.Code != http.StatusRequestEntityTooLarge || !strings.Contains(r.Body.String(), "max_pending_events") {
		t.Errorf("got %d %s, want 413 naming max_pending_events", r.Code, r.Body.String())
	}
	if in.Pending() != 0 {
		t.Errorf("%d events pending after a refused request", in.Pending())
	}
}

func TestRecorder(t *testing.T) {
	r := NewRecorder(nopSink{})
	for i := range RecentAlerts + 5 {
		_ = r.Send(context.Background(), &alert.Alert{ID: fmt.Sprint(i), Rule: "r"})
	}
	got, n := r.Recent("r")
	if n != RecentAlerts+5 || len(got) != RecentAlerts || got[0].ID != "5" || got[len(got)-1].ID != fmt.Sprint(RecentAlerts+4) {
		t.Errorf("recent: %d of %d, first %s", len(got), n, got[0].ID)
	}
	r.Keep(map[string]bool{})
	if got, _ := r.Recent("r"); len(got) != 0 {
		t.Error("a removed rule's alerts were kept")
	}
}

type nopSink struct{}

func (nopSink) Send(context.Context, *alert.Alert) error { return nil }
func (nopSink) Mark() uint64                             { return 0 }
func (nopSink) Wait(context.Context, uint64) error       { return nil }
func (nopSink) Close(context.Context) error              { return nil }

// TestAdminAndMetrics runs a service runtime and reads it through the
// admin API and the collector.
func TestAdminAndMetrics(t *testing.T) {
	c, err := rules.NewCompiler(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	seq, errs := c.CompileFile("seq.yaml", []byte(`id: seq
title: Failures then success
status: experimental
streams: [auth]
by: [event.user]
sequence:
  within: 10m
  steps:
    - {name: fail, where: event.outcome == "failure", times: 2}
    - {name: ok, where: event.outcome == "success"}
`))
	if seq == nil {
		t.Fatal(errs)
	}
	in := &Ingest{SourceName: "http", Specs: []source.Spec{{Stream: "auth"}}}
	rec := NewRecorder(nopSink{})
	ctl := runtime.NewControl()
	rt, err := runtime.New(runtime.Config{Mode: runtime.Service, Rules: []*rules.Rule{seq}, Sources: []source.Source{in}, Sink: rec, Control: ctl})
	if err != nil {
		t.Fatal(err)
	}
	rl := &runtime.Reloader{Control: ctl, Load: func(context.Context, bool) (*runtime.RuleSet, error) {
		return nil, fmt.Errorf("rules/seq.yaml:3:9: status must be one of experimental, test, stable, deprecated")
	}}
	rl.Started(&runtime.RuleSet{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _, _ = rt.Run(ctx); close(done) }()
	ready := &Readiness{Runtime: rt, Reloader: rl}
	admin := &Admin{Runtime: rt, Control: ctl, Reloader: rl, Recorder: rec, Ready: ready}
	h := admin.Handler(in)
	call := func(method, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, req)
		return rr
	}
	for _, l := range []string{`{"id":"f1","ts":1,"user":"u","outcome":"failure"}`, `{"id":"f2","ts":2,"user":"u","outcome":"failure"}`, `{"id":"s1","ts":3,"user":"u","outcome":"success"}`} {
		if r := call("POST", "/v1/events/auth", l); r.Code != 200 {
			t.Fatalf("ingest: %d %s", r.Code, r.Body)
		}
	}
	r := call("GET", "/v1/rules/seq/explain?key=u", "")
	if r.Code != 200 || !strings.Contains(r.Body.String(), `"step": "fail"`) {
		t.Errorf("explain: %d %s", r.Code, r.Body)
	}
	if r := call("POST", "/v1/reload", ""); r.Code != http.StatusUnprocessableEntity || !strings.Contains(r.Body.String(), "rules/seq.yaml:3:9") {
		t.Errorf("failing reload: %d %s", r.Code, r.Body)
	}
	r = call("GET", "/v1/status", "")
	var d ReadyDetail
	if err := json.Unmarshal(r.Body.Bytes(), &d); err != nil || r.Code != 200 || d.Status != "degraded" || d.Reload == nil || len(d.Reload.Errors) != 1 {
		t.Errorf("status: %d %s", r.Code, r.Body)
	}
	// The loop publishes once a second; end the run so the last
	// statistics are final.
	cancel()
	<-done
	r = call("GET", "/v1/rules", "")
	var list struct{ Rules []RuleInfo }
	if err := json.Unmarshal(r.Body.Bytes(), &list); err != nil || len(list.Rules) != 1 {
		t.Fatalf("rules: %d %s", r.Code, r.Body)
	}
	if got := list.Rules[0]; got.Counters.Evaluated != 2 || // s1 waits in the reorder buffer
		!got.Shadow || got.Kind != "sequence" || got.Version == "" {
		t.Errorf("rule %+v", got)
	}
	if r := call("GET", "/v1/rules/nope/alerts", ""); r.Code != 404 {
		t.Errorf("unknown rule: %d", r.Code)
	}
	m := &Metrics{Runtime: rt, Reloader: rl, Ingest: in}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(m)
	if problems, err := testutil.CollectAndLint(m); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
	n, err := testutil.GatherAndCount(reg, "cep_rule_events_evaluated_total", "cep_reloads_total", "cep_ingest_requests_total")
	if err != nil || n < 5 {
		t.Errorf("gathered %d series: %v", n, err)
	}
}

// TestMetricsInREADME checks that the README's metrics list names every
// metric the collector exports, and nothing else of cep_ but sinks'.
func TestMetricsInREADME(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "<!-- metrics -->")
	if i < 0 {
		t.Fatal("README has no <!-- metrics --> list")
	}
	j := strings.Index(s[i:], "<!-- end -->")
	list := s[i : i+j]
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("`(cep_[a-z_]+)`").FindAllStringSubmatch(list, -1) {
		listed[m[1]] = true
	}
	for _, n := range Names() {
		if !listed[n] {
			t.Errorf("metric %s is not in the README's list", n)
		}
		delete(listed, n)
	}
	for n := range listed {
		t.Errorf("the README lists %s, which the collector does not export", n)
	}
}

// TestFactsHealth: a failing facts store shows in /healthz and makes
// /readyz "degraded", not unready: taking the process out of service
// would stop all detection.
func TestFactsHealth(t *testing.T) {
	in := &Ingest{SourceName: "http", Specs: []source.Spec{{Stream: "s"}}}
	rt, err := runtime.New(runtime.Config{Mode: runtime.Service, Sources: []source.Source{in}, Sink: nopSink{}, Control: runtime.NewControl()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _, _ = rt.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	var down atomic.Bool
	rd := &Readiness{Runtime: rt, FactsDown: down.Load}
	h := HealthHandler(http.NotFoundHandler(), rd)
	get := func(path string) (int, map[string]any) {
		rr := httptest.NewRecorder()
		h.ServeHTTP(rr, httptest.NewRequest("GET", path, nil))
		var m map[string]any
		if err := json.Unmarshal(rr.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v: %s", path, err, rr.Body)
		}
		return rr.Code, m
	}
	var code int
	var ready map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for code != 200 && time.Now().Before(deadline) {
		code, ready = get("/readyz")
		time.Sleep(10 * time.Millisecond)
	}
	if code != 200 || ready["status"] != "ready" || ready["facts"] != "up" {
		t.Fatalf("readyz with facts up: %d %v", code, ready)
	}
	down.Store(true)
	if code, ready = get("/readyz"); code != 200 || ready["status"] != "degraded" || ready["facts"] != "down" {
		t.Errorf("readyz with facts down: %d %v", code, ready)
	}
	if _, health := get("/healthz"); health["facts"] != "down" {
		t.Errorf("healthz with facts down: %v", health)
	}
}

// startingSource has not begun to read until told.
type startingSource struct{ counts source.Counters }

func (s *startingSource) Name() string             { return "kafka:auth" }
func (s *startingSource) Streams() []string        { return []string{"auth"} }
func (s *startingSource) Counts() *source.Counters { return &s.counts }
func (s *startingSource) Run(ctx context.Context, _ source.Positions, _ chan<- source.Batch) error {
	<-ctx.Done()
	return nil
}

// TestReadinessWaitsForSources: a source that has not begun to read (a
// Kafka source whose brokers do not answer) keeps cep unready, and says
// so.
func TestReadinessWaitsForSources(t *testing.T) {
	src := &startingSource{}
	src.counts.Starting.Store(true)
	rt, err := runtime.New(runtime.Config{Mode: runtime.Service, Sources: []source.Source{src}, Sink: nopSink{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _, _ = rt.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	ready := &Readiness{Runtime: rt}
	var d ReadyDetail
	var ok bool
	for range 200 {
		if d, ok = ready.Detail(); d.Why != "" || ok {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ok || !strings.Contains(d.Why, "source kafka:auth has not begun to read") {
		t.Fatalf("ready %v while a source has not begun: %+v", ok, d)
	}
	src.counts.Starting.Store(false)
	if d, ok = ready.Detail(); !ok || d.Status != "ready" {
		t.Fatalf("not ready once the source reads: %+v", d)
	}
}
