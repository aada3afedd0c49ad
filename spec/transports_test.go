package spec

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// collected gathers what the fake destinations received, by destination.
type collected struct {
	mu  sync.Mutex
	got map[string][]string
}

func (c *collected) add(dest, s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got[dest] = append(c.got[dest], s)
}

func (c *collected) of(dest string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.got[dest]...)
}

var _ = Describe("every transport from one config", func() {
	It("formats and delivers each alert to Splunk HEC, Elasticsearch, syslog, a webhook, Kafka and a file", func() {
		dir := GinkgoT().TempDir()
		c := &collected{got: map[string][]string{}}

		hec := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			Expect(r.Header.Get("Authorization")).To(Equal("Splunk tok"))
			dec := json.NewDecoder(r.Body)
			for dec.More() {
				var ev struct {
					Event map[string]any `json:"event"`
				}
				Expect(dec.Decode(&ev)).To(Succeed())
				c.add("hec", ev.Event["id"].(string))
			}
			io.WriteString(w, `{"text":"Success","code":0}`)
		}))
		DeferCleanup(hec.Close)

		es := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sc := bufio.NewScanner(r.Body)
			var items []map[string]any
			for sc.Scan() {
				var action map[string]map[string]string
				Expect(json.Unmarshal(sc.Bytes(), &action)).To(Succeed())
				Expect(sc.Scan()).To(BeTrue())
				var doc map[string]any
				Expect(json.Unmarshal(sc.Bytes(), &doc)).To(Succeed())
				Expect(doc).To(HaveKey("@timestamp"), "ECS documents")
				id := action["create"]["_id"]
				c.add("elastic", id)
				items = append(items, map[string]any{"create": map[string]any{"_id": id, "status": 201}})
			}
			json.NewEncoder(w).Encode(map[string]any{"errors": false, "items": items})
		}))
		DeferCleanup(es.Close)

		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			Expect(r.Header.Get("webhook-signature")).To(HavePrefix("v1,"))
			c.add("webhook", r.Header.Get("webhook-id"))
			w.WriteHeader(http.StatusNoContent)
		}))
		DeferCleanup(hook.Close)

		ln, err := net.Listen("tcp", "127.0.0.1:0")
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(ln.Close)
		go func() {
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer conn.Close()
					br := bufio.NewReader(conn)
					for {
						// RFC 6587 octet counting: "LEN SP MSG".
						n, err := br.ReadString(' ')
						if err != nil {
							return
						}
						size, err := strconv.Atoi(strings.TrimSpace(n))
						if err != nil {
							return
						}
						msg := make([]byte, size)
						if _, err := io.ReadFull(br, msg); err != nil {
							return
						}
						c.add("syslog", string(msg))
					}
				}()
			}
		}()

		cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "alerts"))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(cluster.Close)

		writeFile(dir, "auth.jsonl", strings.Join([]string{
			`{"id":"a1","ts":"2026-01-01T00:00:01Z","user":"u1","outcome":"failure"}`,
			`{"id":"a2","ts":"2026-01-01T00:00:02Z","user":"u2","outcome":"failure"}`,
			`{"id":"a3","ts":"2026-01-01T00:00:03Z","user":"u3","outcome":"failure"}`,
		}, "\n")+"\n")
		cfg := writeFile(dir, "cep.yaml", fmt.Sprintf(`
rules: [%s]
sources: [{type: file, path: auth.jsonl, stream: auth}]
sinks:
  - {name: splunk, type: splunk_hec, format: json, splunk_hec: {url: %q, token: tok}}
  - {name: elastic, type: elastic, format: ecs, elastic: {url: %q, index: alerts}}
  - {name: siem, type: syslog, format: cef, syslog: {network: tcp, address: %q}}
  - {name: soar, type: webhook, webhook: {url: %q, secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}
  - {name: kafka, type: kafka, format: ocsf, kafka: {brokers: [%q], topic: alerts}}
  - {name: archive, type: file, format: leef, file: {path: alerts.leef}}
`, filepath.Join(repoRoot(), "spec/testdata/rules"), hec.URL, es.URL, ln.Addr().String(), hook.URL, cluster.ListenAddrs()[0]))
		r := cep(dir, nil, "run", "--config", cfg)
		Expect(r.code).To(Equal(0), r.stderr)

		Expect(c.of("hec")).To(HaveLen(3))
		ids := c.of("hec")
		Expect(c.of("elastic")).To(ConsistOf(ids))
		Expect(c.of("webhook")).To(ConsistOf(ids))
		Eventually(func() int { return len(c.of("syslog")) }).Should(Equal(3))
		for _, m := range c.of("syslog") {
			Expect(m).To(HavePrefix("<"), "RFC 5424 priority")
			Expect(m).To(ContainSubstring("CEF:0|cep-project|cep|"))
		}
		leef, err := os.ReadFile(filepath.Join(dir, "alerts.leef"))
		Expect(err).NotTo(HaveOccurred())
		Expect(strings.Count(string(leef), "LEEF:2.0|")).To(Equal(3))

		cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("alerts"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		Expect(err).NotTo(HaveOccurred())
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		var classes []float64
		for len(classes) < 3 && ctx.Err() == nil {
			cl.PollFetches(ctx).EachRecord(func(rec *kgo.Record) {
				var f map[string]any
				Expect(json.Unmarshal(rec.Value, &f)).To(Succeed())
				classes = append(classes, f["class_uid"].(float64))
			})
		}
		Expect(classes).To(Equal([]float64{2004, 2004, 2004}), "OCSF Detection Findings")
	})
})
