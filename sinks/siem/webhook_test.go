package siem

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cep-project/cep/alert"
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
	clock := &fakeClock{now: time.Now()}
	rc := &webhookReceiver{key: key, now: clock.Now, fail: 2}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	c := fastConfig("soar", TypeWebhook)
	c.Retry.MaxAttempts = 5
	c.Webhook = &WebhookConfig{URL: srv.URL, Secret: testSecret, Headers: map[string]string{"X-Team": "fraud"},
		Template: `{"id":{{json .Alert.ID}},"title":{{json .Alert.Title}},"tags":{{json .Alert.Tags}},"ms":{{millis .Alert}}}`}
	opts := quietOptions()
	opts.Clock = clock
	s := startSink(t, c, opts)
	as := numbered(4)
	as[1].Tags = []string{"x\"y"}
	sendAll(t, s, as)
	eventually(t, 5*time.Second, "4 webhooks", func() bool { return rc.count() == 4 })
	stopSink(t, s)
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
	c := fastConfig("soar", TypeWebhook)
	c.Spool.Dir = t.TempDir()
	c.Webhook = &WebhookConfig{URL: srv.URL, Secret: Secret("whsec_" + base64.StdEncoding.EncodeToString([]byte("another key of 32 bytes.........")))}
	s := startSink(t, c, quietOptions())
	sendAll(t, s, numbered(1))
	eventually(t, 5*time.Second, "dead-lettered", func() bool { return strings.Contains(s.Health().LastError, "bad signature") })
	stopSink(t, s)
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
	c := fastConfig("hive", TypeWebhook)
	c.Webhook = &WebhookConfig{URL: srv.URL, Preset: PresetTheHive, BearerToken: "hive-key"}
	s := startSink(t, c, quietOptions())
	a := sampleAlerts(t)["basic"]
	sendAll(t, s, []*alert.Alert{a})
	eventually(t, 5*time.Second, "TheHive alert", func() bool { return rc.count() == 1 })
	stopSink(t, s)
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
	c := fastConfig("pd", TypeWebhook)
	c.Webhook = &WebhookConfig{URL: srv.URL, Preset: PresetPagerDuty, RoutingKey: "R0UTING"}
	s := startSink(t, c, quietOptions())
	a := sampleAlerts(t)["hostile"]
	sendAll(t, s, []*alert.Alert{a})
	eventually(t, 5*time.Second, "PagerDuty event", func() bool { return rc.count() == 1 })
	stopSink(t, s)
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
