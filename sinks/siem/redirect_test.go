package siem

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cep-project/cep/sinks/siem/sinktest"
	"github.com/cep-project/cep/sinks/siem/transport"
	"github.com/cep-project/cep/sinks/siem/transport/elastic"
	"github.com/cep-project/cep/sinks/siem/transport/hec"
	"github.com/cep-project/cep/sinks/siem/transport/webhook"
)

// httpKinds builds a config of every HTTP transport for a URL and a
// redirect policy.
var httpKinds = map[string]func(url, policy string) (string, transport.Config){
	hec.Kind: func(url, policy string) (string, transport.Config) {
		return hec.Kind, &hec.Config{URL: url + "/services/collector/event", Token: "t", HTTPConfig: transport.HTTPConfig{FollowRedirects: policy}}
	},
	elastic.Kind: func(url, policy string) (string, transport.Config) {
		return elastic.Kind, &elastic.Config{URL: url, Index: "i", APIKey: "k", HTTPConfig: transport.HTTPConfig{FollowRedirects: policy}}
	},
	webhook.Kind: func(url, policy string) (string, transport.Config) {
		return webhook.Kind, &webhook.Config{URL: url + "/hook", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Headers: map[string]string{"X-Api-Key": "k"}, HTTPConfig: transport.HTTPConfig{FollowRedirects: policy}}
	},
}

// A 307 to another host would resend the alert, the API key and the
// signature there: no sink follows it, whatever the policy. A redirect to
// the same host is followed under same_host (the default), not under none.
func TestNoRedirectToAnotherHost(t *testing.T) {
	for name, mk := range httpKinds {
		for _, policy := range []string{"", transport.RedirectsNone} {
			t.Run(name+"/"+policy, func(t *testing.T) {
				var elsewhere, moved atomic.Int64
				other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					elsewhere.Add(1)
				}))
				defer other.Close()
				var self *httptest.Server
				self = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					switch {
					case strings.HasPrefix(r.URL.Path, "/moved"):
						moved.Add(1)
						w.Header().Set("Content-Type", "application/json")
						_, _ = w.Write([]byte(`{"errors":false,"items":[],"text":"Success","code":0}`))
					case strings.Contains(r.URL.RawQuery, "same"):
						http.Redirect(w, r, self.URL+"/moved"+r.URL.Path, http.StatusTemporaryRedirect)
					default:
						http.Redirect(w, r, other.URL+r.URL.Path, http.StatusTemporaryRedirect)
					}
				}))
				defer self.Close()
				for _, target := range []string{"elsewhere", "same"} {
					url := self.URL
					if target == "same" {
						// The test server tells the two cases apart by the
						// query; elastic adds none of its own here.
						url += "/?same=1"
						if name == elastic.Kind {
							continue
						}
					}
					typ, block := mk(url, policy)
					c := fastConfig(name, typ)
					c.Transport = block
					c.Retry.MaxAttempts = 1
					c.Spool.Dir = t.TempDir()
					s := startSink(t, c, quietOptions())
					sendAll(t, s, sinktest.Numbered(1))
					sinktest.Eventually(t, 5*time.Second, "the send", func() bool {
						return s.snd.health().LastError != "" || moved.Load() > 0
					})
					s.snd.stop(context.Background())
					if elsewhere.Load() != 0 {
						t.Fatalf("%s: the other host got %d requests", target, elsewhere.Load())
					}
					if target == "same" && (moved.Load() > 0) != (policy == "") {
						t.Fatalf("same host, policy %q: followed %v", policy, moved.Load() > 0)
					}
					if target == "elsewhere" && !strings.Contains(s.snd.health().LastError, "refused") {
						t.Fatalf("last error %q", s.snd.health().LastError)
					}
				}
			})
		}
	}
}
