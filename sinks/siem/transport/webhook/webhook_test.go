package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/internal/secret"
	"github.com/cep-project/cep/sinks/siem"
	"github.com/cep-project/cep/sinks/siem/siemtest"
	"github.com/cep-project/cep/sinks/siem/sinktest"
)

// webhookReceiver verifies Standard Webhooks signatures the way a receiver
// must: recompute the HMAC over id.timestamp.body with the decoded key,
// compare in constant time, and reject stale timestamps.
type webhookReceiver struct {
	mu     sync.Mutex
	key    []byte
	now    func() time.Time
	bodies []map[string]any
	ids    []string
	fail   int // requests to answer 500 before accepting
	auth   string
}

func (rc *webhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.auth != "" && r.Header.Get("Authorization") != rc.auth {
		http.Error(w, "unauthorised", http.StatusUnauthorized)
		return
	}
	if rc.key != nil {
		id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || rc.now().Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
			http.Error(w, "bad timestamp", http.StatusBadRequest)
			return
		}
		want := signWebhook(rc.key, id, sec, body)
		ok := false
		for _, sig := range strings.Fields(r.Header.Get("webhook-signature")) {
			if hmac.Equal([]byte(sig), []byte(want)) {
				ok = true
			}
		}
		if !ok {
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		rc.ids = append(rc.ids, id)
	}
	if rc.fail > 0 {
		rc.fail--
		http.Error(w, "try later", http.StatusBadGateway)
		return
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		http.Error(w, "not JSON", http.StatusBadRequest)
		return
	}
	rc.bodies = append(rc.bodies, m)
	w.WriteHeader(http.StatusCreated)
}

func (rc *webhookReceiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.bodies)
}

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestWebhookSignedWithRetries(t *testing.T) {
	key, err := webhookKey(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	clock := sinktest.NewClock(time.Now())
	rc := &webhookReceiver{key: key, now: clock.Now, fail: 2}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	c := siemtest.FastConfig("soar", Kind, &Config{URL: srv.URL, Secret: testSecret, Headers: map[string]string{"X-Team": "fraud"},
		Template: `{"id":{{json .Alert.ID}},"title":{{json .Alert.Title}},"tags":{{json .Alert.Tags}},"ms":{{millis .Alert}}}`})
	c.Retry.MaxAttempts = 5
	opts := siemtest.QuietOptions()
	opts.Clock = clock
	s := siemtest.Start(t, opts, c)
	as := sinktest.Numbered(4)
	as[1].Tags = []string{"x\"y"}
	siemtest.SendAll(t, s, as)
	sinktest.Eventually(t, 5*time.Second, "4 webhooks", func() bool { return rc.count() == 4 })
	siemtest.Stop(t, s)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for i, b := range rc.bodies {
		if b["id"] != as[i].ID || b["ms"] != float64(as[i].Time.UnixMilli()) {
			t.Fatalf("body %d: %v", i, b)
		}
	}
	// Retries carry the same webhook-id, so a receiver can deduplicate.
	if rc.ids[0] != as[0].ID || rc.ids[1] != as[0].ID || rc.ids[2] != as[0].ID {
		t.Fatalf("ids %v", rc.ids)
	}
}

func TestWebhookWrongSecretIsRejected(t *testing.T) {
	key, _ := webhookKey(testSecret)
	rc := &webhookReceiver{key: key, now: time.Now}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	c := siemtest.FastConfig("soar", Kind, &Config{URL: srv.URL, Secret: secret.Secret("whsec_" + base64.StdEncoding.EncodeToString([]byte("another key of 32 bytes.........")))})
	c.Spool.Dir = t.TempDir()
	s := siemtest.Start(t, siemtest.QuietOptions(), c)
	siemtest.SendAll(t, s, sinktest.Numbered(1))
	sinktest.Eventually(t, 5*time.Second, "dead-lettered", func() bool { return strings.Contains(siemtest.Health(s).LastError, "bad signature") })
	siemtest.Stop(t, s)
	if rc.count() != 0 {
		t.Fatal("accepted with a wrong key")
	}
}

func TestTheHivePreset(t *testing.T) {
	rc := &webhookReceiver{auth: "Bearer hive-key"}
	mux := http.NewServeMux()
	mux.Handle("POST /api/v1/alert", rc)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := siemtest.FastConfig("hive", Kind, &Config{URL: srv.URL, Preset: PresetTheHive, BearerToken: "hive-key"})
	s := siemtest.Start(t, siemtest.QuietOptions(), c)
	a := sinktest.SampleAlerts(t)["basic"]
	siemtest.SendAll(t, s, []*alert.Alert{a})
	sinktest.Eventually(t, 5*time.Second, "TheHive alert", func() bool { return rc.count() == 1 })
	siemtest.Stop(t, s)
	b := rc.bodies[0]
	for k, want := range map[string]any{"sourceRef": a.ID, "type": "cep", "source": "cep", "title": a.Title, "severity": 3.0, "date": float64(a.Time.UnixMilli()), "tlp": 2.0} {
		if b[k] != want {
			t.Errorf("%s = %v, want %v", k, b[k], want)
		}
	}
	if !strings.Contains(b["description"].(string), a.Rule) {
		t.Errorf("description %q", b["description"])
	}
}

func TestPagerDutyPreset(t *testing.T) {
	rc := &webhookReceiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	c := siemtest.FastConfig("pd", Kind, &Config{URL: srv.URL, Preset: PresetPagerDuty, RoutingKey: "R0UTING"})
	s := siemtest.Start(t, siemtest.QuietOptions(), c)
	a := sinktest.SampleAlerts(t)["hostile"]
	siemtest.SendAll(t, s, []*alert.Alert{a})
	sinktest.Eventually(t, 5*time.Second, "PagerDuty event", func() bool { return rc.count() == 1 })
	siemtest.Stop(t, s)
	b := rc.bodies[0]
	p := b["payload"].(map[string]any)
	if b["dedup_key"] != a.ID || b["routing_key"] != "R0UTING" || b["event_action"] != "trigger" ||
		p["severity"] != "critical" || p["summary"] != a.Title || p["source"] != "cep" {
		t.Fatalf("event %v", b)
	}
	if p["custom_details"].(map[string]any)["alert"].(map[string]any)["id"] != a.ID {
		t.Fatalf("custom_details %v", p["custom_details"])
	}
}

// rawBody is a receiver that keeps each request's body and signature
// headers as they arrived.
type rawBody struct {
	mu   sync.Mutex
	reqs []signedRequest
}

type signedRequest struct {
	id, ts, sig string
	body        []byte
}

func (rb *rawBody) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rb.mu.Lock()
	rb.reqs = append(rb.reqs, signedRequest{r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), r.Header.Get("webhook-signature"), body})
	rb.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// verifyJS is how the Standard Webhooks reference library verifies in
// JavaScript: the payload is a string, so the body is read as UTF-8 before
// the HMAC over "id.timestamp.payload" is computed.
const verifyJS = `
const crypto = require("crypto");
const [secret, id, ts, sig, file] = process.argv.slice(2);
const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
const payload = require("fs").readFileSync(file).toString("utf8");
const want = "v1," + crypto.createHmac("sha256", key).update(id + "." + ts + "." + payload).digest("base64");
process.exit(sig.split(" ").includes(want) ? 0 : 1);
`

// An evidence line with a byte that is not UTF-8 gives a webhook body of
// valid UTF-8 JSON, whose signature a JavaScript receiver accepts.
func TestWebhookBodyIsValidUTF8(t *testing.T) {
	rb := &rawBody{}
	srv := httptest.NewServer(rb)
	defer srv.Close()
	s := siemtest.Start(t, siemtest.QuietOptions(), siemtest.FastConfig("soar", Kind, &Config{URL: srv.URL, Secret: testSecret}))
	a := sinktest.SampleAlerts(t)["hostile"]
	siemtest.SendAll(t, s, []*alert.Alert{a})
	siemtest.Stop(t, s)
	if len(rb.reqs) != 1 {
		t.Fatalf("%d requests", len(rb.reqs))
	}
	req := rb.reqs[0]
	if !utf8.Valid(req.body) || !json.Valid(req.body) {
		t.Fatalf("body is not UTF-8 JSON: %q", req.body)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Log("no node on PATH: the JavaScript verifier not run")
		return
	}
	dir := t.TempDir()
	script, body := filepath.Join(dir, "verify.js"), filepath.Join(dir, "body")
	if err := os.WriteFile(script, []byte(verifyJS), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(body, req.body, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(node, script, testSecret, req.id, req.ts, req.sig, body).CombinedOutput(); err != nil {
		t.Fatalf("the JavaScript verifier rejects the signature: %v %s", err, out)
	}
}

// The replay: a receiver answering 503 to the first try of every
// 7th alert, no spool dir, max_attempts 5, and the sink stopped right after
// the alerts were handed over. Every alert arrives exactly once.
func TestWebhookStopRetriesEveryAlert(t *testing.T) {
	var mu sync.Mutex
	tried := map[string]bool{}
	got := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a struct{ ID string }
		_ = json.NewDecoder(r.Body).Decode(&a)
		n, _ := strconv.Atoi(a.ID[1:])
		mu.Lock()
		defer mu.Unlock()
		if n%7 == 0 && !tried[a.ID] {
			tried[a.ID] = true
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		got[a.ID]++
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	c := siemtest.FastConfig("soar", Kind, &Config{URL: srv.URL})
	c.Retry = siem.RetryConfig{MaxAttempts: 5, InitialInterval: 5 * time.Millisecond, MaxInterval: 50 * time.Millisecond}
	s := siemtest.Start(t, siemtest.QuietOptions(), c)
	siemtest.SendAll(t, s, sinktest.Numbered(102))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range sinktest.WantIDs(102) {
		if got[id] != 1 {
			t.Errorf("%s delivered %d times", id, got[id])
		}
	}
}

// Credentials in a webhook URL (userinfo, query values) never show: not in
// logs, not in health's last_error, not in the errors Build returns.
func TestWebhookURLCredentialsAreRedacted(t *testing.T) {
	var logs bytes.Buffer
	opts := siemtest.QuietOptions()
	opts.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	c := siemtest.FastConfig("soar", Kind, &Config{URL: "http://user:SECRET@127.0.0.1:1/hook?api_key=SECRET"})
	c.Spool.Dir = t.TempDir()
	s := siemtest.Start(t, opts, c)
	siemtest.SendAll(t, s, sinktest.Numbered(1))
	sinktest.Eventually(t, 5*time.Second, "a failed send", func() bool { return siemtest.Health(s).LastError != "" })
	h := siemtest.Health(s)
	siemtest.Stop(t, s)
	health, _ := json.Marshal(h)
	if !strings.Contains(h.LastError, "http://redacted@127.0.0.1:1/hook?api_key=redacted") {
		t.Errorf("last_error does not show where the call went: %s", h.LastError)
	}
	_, err := siem.Build([]siem.Config{siemtest.FastConfig("bad", Kind, &Config{URL: "http://user:SECRET@h/%zz?api_key=SECRET"})}, opts)
	if err == nil {
		t.Fatal("a bad URL was accepted")
	}
	for what, text := range map[string]string{"logs": logs.String(), "health": string(health), "build error": err.Error()} {
		if strings.Contains(text, "SECRET") {
			t.Errorf("%s show a credential: %s", what, text)
		}
	}
}
