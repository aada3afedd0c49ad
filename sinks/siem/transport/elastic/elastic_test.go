package elastic

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/sinks/siem"
	"github.com/cep-project/cep/sinks/siem/format"
	"github.com/cep-project/cep/sinks/siem/siemtest"
	"github.com/cep-project/cep/sinks/siem/sinktest"
)

// fakeES behaves like Elasticsearch's _bulk endpoint with create actions:
// documents are keyed by _id (a second create is a 409), and chosen ids
// fail once with 429 or always with a 400 mapping error.
type fakeES struct {
	mu       sync.Mutex
	docs     map[string]json.RawMessage
	order    []string
	index    string
	throttle map[string]int // id → 429s still to give
	reject   map[string]bool
	wholeErr int // answer every request with this status while > 0
}

func newFakeES(t testing.TB) (*fakeES, *httptest.Server) {
	t.Helper()
	f := &fakeES{docs: map[string]json.RawMessage{}, throttle: map[string]int{}, reject: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(f.bulk))
	t.Cleanup(srv.Close)
	return f, srv
}

func (f *fakeES) bulk(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/_bulk" || r.Header.Get("Content-Type") != "application/x-ndjson" || r.Header.Get("Authorization") != "ApiKey k3y" {
		http.Error(w, "bad request line or headers", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.wholeErr > 0 {
		http.Error(w, `{"error":"unavailable"}`, f.wholeErr)
		return
	}
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(nil, 1<<20)
	var items []map[string]any
	for sc.Scan() {
		var action struct {
			Create struct {
				Index string `json:"_index"`
				ID    string `json:"_id"`
			} `json:"create"`
		}
		if err := json.Unmarshal(sc.Bytes(), &action); err != nil || action.Create.ID == "" {
			http.Error(w, "bad action line", http.StatusBadRequest)
			return
		}
		if !sc.Scan() {
			http.Error(w, "missing document", http.StatusBadRequest)
			return
		}
		f.index = action.Create.Index
		id := action.Create.ID
		doc := json.RawMessage(append([]byte(nil), sc.Bytes()...))
		var res map[string]any
		switch {
		case f.throttle[id] > 0:
			f.throttle[id]--
			res = map[string]any{"status": 429, "error": map[string]any{"type": "es_rejected_execution_exception", "reason": "queue full"}}
		case f.reject[id]:
			res = map[string]any{"status": 400, "error": map[string]any{"type": "mapper_parsing_exception", "reason": "failed to parse field [fields.x]"}}
		case badNames(doc) != "":
			res = map[string]any{"status": 400, "error": map[string]any{"type": "mapper_parsing_exception", "reason": badNames(doc)}}
		case f.docs[id] != nil:
			res = map[string]any{"status": 409, "error": map[string]any{"type": "version_conflict_engine_exception", "reason": "document already exists"}}
		default:
			f.docs[id] = doc
			f.order = append(f.order, id)
			res = map[string]any{"status": 201, "result": "created"}
		}
		res["_id"] = id
		items = append(items, map[string]any{"create": res})
	}
	errors := false
	for _, it := range items {
		if it["create"].(map[string]any)["status"].(int) >= 300 {
			errors = true
		}
	}
	json.NewEncoder(w).Encode(map[string]any{"took": 1, "errors": errors, "items": items})
}

func TestElasticBulk(t *testing.T) {
	f, srv := newFakeES(t)
	all := sinktest.Numbered(30)
	f.throttle[all[3].ID] = 2
	f.throttle[all[17].ID] = 1
	f.reject[all[5].ID] = true
	f.reject[all[20].ID] = true
	// A document that arrived before (an earlier run) is a 409: delivered.
	f.docs[all[0].ID] = json.RawMessage(`{}`)

	dir := t.TempDir()
	c := siemtest.FastConfig("es", Kind, &Config{URL: srv.URL, DataStream: "logs-cep.alerts-default", APIKey: "k3y"})
	c.Format = format.ECS
	c.Retry.MaxAttempts = 5
	c.Spool.Dir = dir
	s := siemtest.Start(t, siemtest.QuietOptions(), c)
	siemtest.SendAll(t, s, all)
	sinktest.Eventually(t, 5*time.Second, "27 documents", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.docs) == 28
	})
	siemtest.Stop(t, s)

	f.mu.Lock()
	defer f.mu.Unlock()
	if f.index != "logs-cep.alerts-default" {
		t.Fatalf("index %q", f.index)
	}
	for i, a := range all {
		_, ok := f.docs[a.ID]
		if want := i != 5 && i != 20; ok != want {
			t.Errorf("%s: indexed %v, want %v", a.ID, ok, want)
		}
	}
	var doc map[string]any
	if err := json.Unmarshal(f.docs[all[1].ID], &doc); err != nil || doc["@timestamp"] == nil {
		t.Fatalf("ECS document %s: %v", f.docs[all[1].ID], err)
	}
	dead, err := os.ReadFile(filepath.Join(dir, siem.DeadLetterFile))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(dead)), "\n")
	if len(lines) != 2 {
		t.Fatalf("dead letters: %s", dead)
	}
	for i, want := range []string{all[5].ID, all[20].ID} {
		var dl struct{ ID, Reason, Record, Sink string }
		if err := json.Unmarshal([]byte(lines[i]), &dl); err != nil {
			t.Fatal(err)
		}
		if dl.ID != want || !strings.Contains(dl.Reason, "mapper_parsing_exception") || dl.Sink != "es" || !json.Valid([]byte(dl.Record)) {
			t.Fatalf("dead letter %+v", dl)
		}
	}
}

func TestElasticWholeRequestErrors(t *testing.T) {
	for _, tc := range []struct {
		status    int
		delivered bool
	}{{503, true}, {429, true}, {400, false}} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			f, srv := newFakeES(t)
			f.wholeErr = tc.status
			c := siemtest.FastConfig("es", Kind, &Config{URL: srv.URL, Index: "alerts", APIKey: "k3y"})
			c.Spool.Dir = t.TempDir()
			s := siemtest.Start(t, siemtest.QuietOptions(), c)
			siemtest.SendAll(t, s, sinktest.Numbered(5))
			if tc.delivered {
				sinktest.Eventually(t, 5*time.Second, "spooled", func() bool { return siemtest.Health(s).SpoolRecords == 5 })
				f.mu.Lock()
				f.wholeErr = 0
				f.mu.Unlock()
				sinktest.Eventually(t, 5*time.Second, "delivered after recovery", func() bool {
					f.mu.Lock()
					defer f.mu.Unlock()
					return len(f.order) == 5
				})
			} else {
				sinktest.Eventually(t, 5*time.Second, "dead-lettered", func() bool {
					b, _ := os.ReadFile(filepath.Join(c.Spool.Dir, siem.DeadLetterFile))
					return strings.Count(string(b), "\n") == 5
				})
			}
			siemtest.Stop(t, s)
		})
	}
}

// badNames applies Elasticsearch's checks of field names to a document, as
// its document parser does: a name must not be empty or blank, and no part
// of a dotted name may be ("x.", ".x", "a..b" make object resolution
// ambiguous). It returns the first complaint.
func badNames(doc []byte) string {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return "failed to parse: " + err.Error()
	}
	var walk func(v any) string
	walk = func(v any) string {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if strings.TrimSpace(k) == "" {
					return "field name cannot be an empty string or whitespace: [" + k + "]"
				}
				for _, part := range strings.Split(k, ".") {
					if strings.TrimSpace(part) == "" {
						return "object field starting or ending with a [.] makes object resolution ambiguous: [" + k + "]"
					}
				}
				if m := walk(e); m != "" {
					return m
				}
			}
		case []any:
			for _, e := range x {
				if m := walk(e); m != "" {
					return m
				}
			}
		}
		return ""
	}
	return walk(v)
}

// Alerts carry member names Elasticsearch rejects (in fields, keys and
// evidence events): the sink renames them, and every document is indexed
// instead of dead-lettered, in each JSON format.
func TestElasticAcceptsEveryFieldName(t *testing.T) {
	for _, f := range []string{format.ECS, format.JSON, format.OCSF} {
		t.Run(f, func(t *testing.T) {
			es, srv := newFakeES(t)
			c := siemtest.FastConfig("es", Kind, &Config{URL: srv.URL, Index: "alerts", APIKey: "k3y"})
			c.Format = f
			c.Spool.Dir = t.TempDir()
			s := siemtest.Start(t, siemtest.QuietOptions(), c)
			a := sinktest.SampleAlerts(t)["hostile"]
			a.Key = append(a.Key, alert.KeyPart{Expr: "", Value: map[string]any{"y..": 1}})
			siemtest.SendAll(t, s, []*alert.Alert{a})
			siemtest.Stop(t, s)
			es.mu.Lock()
			defer es.mu.Unlock()
			if es.docs[a.ID] == nil {
				dead, _ := os.ReadFile(filepath.Join(c.Spool.Dir, siem.DeadLetterFile))
				t.Fatalf("not indexed; dead letters: %s", dead)
			}
			var doc map[string]any
			if err := json.Unmarshal(es.docs[a.ID], &doc); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestFieldName(t *testing.T) {
	for in, want := range map[string]string{
		"": "_", " ": "_", "x.": "x._", ".x": "_.x", "a..b": "a._.b", "a. .b": "a._.b", ".": "_._",
		"ok": "ok", "event.card_id": "event.card_id", "ünï": "ünï", "a b": "a b",
	} {
		if got := FieldName(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}
