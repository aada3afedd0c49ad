package spec

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

// slowReceiver is a webhook endpoint that takes its time over every
// delivery, so alerts wait in cep's sink queue as they would behind a busy
// SOAR, and a kill finds some of them not yet delivered.
type slowReceiver struct {
	srv   *httptest.Server
	delay time.Duration
	mu    sync.Mutex
	got   map[string]int
}

func newSlowReceiver(delay time.Duration) *slowReceiver {
	r := &slowReceiver{delay: delay, got: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		time.Sleep(r.delay)
		var body struct {
			ID string `json:"id"`
		}
		if err := json.NewDecoder(req.Body).Decode(&body); err != nil || body.ID == "" {
			http.Error(w, "the body is not an alert", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		r.got[body.ID]++
		r.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	DeferCleanup(r.srv.Close)
	return r
}

func (r *slowReceiver) ids() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.got))
	for k, v := range r.got {
		out[k] = v
	}
	return out
}

// fraudRun is a directory with the fraud example's data and a config
// that checkpoints into state/ and delivers to a file and a webhook.
func fraudRun(dir, data, hook string) string {
	root := repoRoot()
	return writeFile(dir, "cep.yaml", fmt.Sprintf(`
rules: [%[1]s/examples/fraud/rules]
lists: %[1]s/examples/fraud/lists
models: %[1]s/examples/fraud/models
engine: {allowed_lateness: 5s}
state: {dir: state, interval: 200ms}
sources:
  - {type: file, path: %[2]s/payments.jsonl, stream: payments}
  - {type: file, path: %[2]s/auth.jsonl, stream: auth}
  - {type: file, path: %[2]s/account.jsonl, stream: account}
  - {type: file, path: %[2]s/orders.jsonl, stream: orders}
sinks:
  - name: archive
    type: file
    file: {path: alerts.jsonl}
  - name: soar
    type: webhook
    batch: {max_alerts: 1}
    queue: 16
    spool: {dir: spool}
    webhook: {url: %[3]q}
`, root, data, hook))
}

// archiveCounts counts the lines of the file sink by alert id.
func archiveCounts(dir string) map[string]int {
	GinkgoHelper()
	data, err := os.ReadFile(filepath.Join(dir, "alerts.jsonl"))
	if !os.IsNotExist(err) {
		Expect(err).NotTo(HaveOccurred())
	}
	// A running process may be writing the last line.
	out := map[string]int{}
	for _, a := range alertsOf(wholeLines(data)) {
		out[a["id"].(string)]++
	}
	return out
}

func hasCheckpoint(dir string) bool {
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "checkpoint-") {
			return true
		}
	}
	return false
}

func keys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

var _ = Describe("restarts", Ordered, func() {
	var data string
	var want map[string]int
	BeforeAll(func() {
		data = fraudData
		By("running the fraud example once, uninterrupted")
		dir := GinkgoT().TempDir()
		rcv := newSlowReceiver(0)
		s := startCep(dir, "run", "--config", fraudRun(dir, data, rcv.srv.URL))
		Eventually(s, "2m").Should(gexec.Exit(0))
		want = archiveCounts(dir)
		Expect(len(want)).To(BeNumerically(">", 200))
		Expect(total(want)).To(Equal(len(want)), "one run has no duplicates")
		Expect(rcv.ids()).To(HaveLen(len(want)))
	})

	// Kill points: once the first checkpoint is on disk, then a third and
	// two thirds of the way through the alerts.
	for _, part := range []int{0, 1, 2} {
		It(fmt.Sprintf("loses no alert when killed -9 at point %d and restarted", part), func() {
			dir := GinkgoT().TempDir()
			rcv := newSlowReceiver(10 * time.Millisecond)
			cfg := fraudRun(dir, data, rcv.srv.URL)
			s := startCep(dir, "run", "--config", cfg)
			Eventually(func() bool { return hasCheckpoint(filepath.Join(dir, "state")) }).Should(BeTrue())
			Eventually(func() int { return total(archiveCounts(dir)) }).Should(BeNumerically(">=", part*len(want)/3))
			GinkgoWriter.Printf("killing with %d delivered to the webhook\n", len(rcv.ids()))
			s.Kill()
			Eventually(s).Should(gexec.Exit())
			first := archiveCounts(dir)
			Expect(len(rcv.ids())).To(BeNumerically("<", len(want)), "the kill came after the end: the spec proves nothing")

			s2 := startCep(dir, "run", "--config", cfg)
			Eventually(s2, "2m").Should(gexec.Exit(0))
			Expect(string(s2.Err.Contents())).To(ContainSubstring("restored checkpoint"))
			got := archiveCounts(dir)
			Expect(keys(got)).To(ConsistOf(keys(want)), "the set of alert ids equals one run's")
			dups := total(got) - len(got)
			Expect(dups).To(BeNumerically("<=", total(first)), "only alerts of the first run after its last checkpoint come again")
			Expect(keys(rcv.ids())).To(ConsistOf(keys(want)), "the webhook got every alert")
		})
	}

	It("resumes after SIGTERM with no duplicate and nothing lost", func() {
		dir := GinkgoT().TempDir()
		rcv := newSlowReceiver(2 * time.Millisecond)
		cfg := fraudRun(dir, data, rcv.srv.URL)
		s := startCep(dir, "run", "--config", cfg)
		// Stop at the first alert: a fixed delay came after the end once
		// reading got faster.
		Eventually(func() int { return total(archiveCounts(dir)) }, "1m", "5ms").Should(BeNumerically(">", 0))
		s.Signal(syscall.SIGTERM)
		Eventually(s, "1m").Should(gexec.Exit(0))
		Expect(len(archiveCounts(dir))).To(BeNumerically("<", len(want)), "the stop came after the end: the spec proves nothing")

		s2 := startCep(dir, "run", "--config", cfg)
		Eventually(s2, "2m").Should(gexec.Exit(0))
		got := archiveCounts(dir)
		Expect(got).To(Equal(want), "exactly one run's alerts, each once")
		Expect(rcv.ids()).To(Equal(want), "the webhook got each alert once")
	})
})

// splitConfig follows events.jsonl with a sequence, a window and a join,
// checkpointing often.
func splitConfig(dir string) string {
	writeFile(dir, "rules/seq.yaml", `id: split.card-testing
title: Declines then an approval
streams: [payments]
by: [event.card]
sequence:
  within: 10m
  steps:
    - {name: probe, where: event.result == "declined", times: "3+"}
    - {name: cashout, where: event.result == "approved"}
`)
	writeFile(dir, "rules/win.yaml", `id: split.velocity
title: Three payments in a minute
streams: [payments]
by: [event.card]
aggregate:
  window: {type: tumbling, size: 1m}
  measures: {n: count()}
  having: n >= 3
`)
	writeFile(dir, "rules/join.yaml", `id: split.login-pay
title: Login and payment
join:
  within: 5m
  sides:
    - {name: login, stream: auth, by: [event.card]}
    - {name: pay, stream: payments, where: event.result == "approved", by: [event.card]}
`)
	return writeFile(dir, "cep.yaml", `
rules: [rules]
engine: {allowed_lateness: 0s, idle_timeout: 1h}
state: {dir: state, interval: 100ms}
sources:
  - {type: file, path: payments.jsonl, stream: payments, follow: true, poll_interval: 20ms}
  - {type: file, path: auth.jsonl, stream: auth, follow: true, poll_interval: 20ms}
sinks:
  - {name: archive, type: file, file: {path: alerts.jsonl}}
`)
}

func appendLines(path string, lines ...string) {
	GinkgoHelper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	for _, l := range lines {
		_, err := fmt.Fprintln(f, l)
		Expect(err).NotTo(HaveOccurred())
	}
}

var _ = Describe("state across a restart", func() {
	pay := func(id string, sec int, card, result string) string {
		return fmt.Sprintf(`{"id":%q,"ts":%d,"card":%q,"result":%q}`, id, 1_767_225_600+sec, card, result)
	}
	login := func(id string, sec int, card string) string {
		return fmt.Sprintf(`{"id":%q,"ts":%d,"card":%q}`, id, 1_767_225_600+sec, card)
	}
	before := func() ([]string, []string) {
		return []string{pay("p1", 0, "c1", "declined"), pay("p2", 10, "c1", "declined")}, []string{login("l1", 5, "c1")}
	}
	after := func() ([]string, []string) {
		return []string{pay("p3", 20, "c1", "declined"), pay("p4", 30, "c1", "approved"), pay("p5", 200, "c9", "declined")},
			[]string{login("l2", 200, "c9")}
	}
	// run feeds the events; with restart, cep is stopped after the first
	// half (once a checkpoint has been taken) and started again.
	run := func(restart bool) map[string]int {
		dir := GinkgoT().TempDir()
		cfg := splitConfig(dir)
		p1, a1 := before()
		appendLines(filepath.Join(dir, "payments.jsonl"), p1...)
		appendLines(filepath.Join(dir, "auth.jsonl"), a1...)
		s := startCep(dir, "run", "--config", cfg, "--log-level", "debug")
		Eventually(func() string { return string(s.Err.Contents()) }).Should(ContainSubstring("checkpoint committed"))
		if restart {
			s.Signal(syscall.SIGTERM)
			Eventually(s).Should(gexec.Exit(0))
			s = startCep(dir, "run", "--config", cfg)
			Eventually(func() string { return string(s.Err.Contents()) }).Should(ContainSubstring("restored checkpoint"))
		}
		p2, a2 := after()
		appendLines(filepath.Join(dir, "payments.jsonl"), p2...)
		appendLines(filepath.Join(dir, "auth.jsonl"), a2...)
		Eventually(func() int {
			data, _ := os.ReadFile(filepath.Join(dir, "alerts.jsonl"))
			return strings.Count(string(data), "\n")
		}).Should(Equal(3))
		Consistently(func() int {
			data, _ := os.ReadFile(filepath.Join(dir, "alerts.jsonl"))
			return strings.Count(string(data), "\n")
		}, "300ms").Should(Equal(3))
		s.Signal(syscall.SIGTERM)
		Eventually(s).Should(gexec.Exit(0))
		return archiveCounts(dir)
	}

	It("completes a sequence, a window and a join begun before the restart as one run does", func() {
		one := run(false)
		Expect(one).To(HaveLen(3))
		Expect(run(true)).To(Equal(one))
	})
})

var _ = Describe("a followed file", func() {
	It("loses no line across rename and copytruncate rotation", func() {
		dir := GinkgoT().TempDir()
		writeFile(dir, "rules/all.yaml", "id: every\ntitle: Every event\nmatch: \"true\"\n")
		cfg := writeFile(dir, "cep.yaml", `
rules: [rules]
engine: {allowed_lateness: 0s, idle_timeout: 100ms}
sources:
  - {type: file, path: app.log, stream: app, follow: true, poll_interval: 20ms}
sinks:
  - {name: archive, type: file, file: {path: alerts.jsonl}}
`)
		log := filepath.Join(dir, "app.log")
		line := func(i int) string { return fmt.Sprintf(`{"id":"e%d","ts":%d}`, i, 1_767_225_600+i) }
		appendLines(log, line(1), line(2))
		s := startCep(dir, "run", "--config", cfg)
		count := func() int { return len(archiveCounts(dir)) }
		Eventually(count).Should(Equal(2))

		By("renaming the file away and starting a new one")
		old, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
		Expect(err).NotTo(HaveOccurred())
		Expect(os.Rename(log, log+".1")).To(Succeed())
		_, err = fmt.Fprintln(old, line(3))
		Expect(err).NotTo(HaveOccurred())
		old.Close()
		appendLines(log, line(4), line(5))
		Eventually(count).Should(Equal(5))

		By("copying and truncating in place")
		Expect(os.Truncate(log, 0)).To(Succeed())
		time.Sleep(100 * time.Millisecond)
		appendLines(log, line(6))
		Eventually(count).Should(Equal(6))
		s.Signal(syscall.SIGTERM)
		Eventually(s).Should(gexec.Exit(0))
	})
})

var _ = Describe("checkpoints at rest", func() {
	It("are encrypted when a key is configured, and a missing key is refused by name", func() {
		dir := GinkgoT().TempDir()
		writeFile(dir, "rules/seq.yaml", `id: enc.seq
title: Two declines on a card
streams: [payments]
by: [event.card]
sequence:
  within: 1h
  steps:
    - {name: d, where: event.result == "declined", times: "2"}
`)
		writeFile(dir, "payments.jsonl", `{"id":"p1","ts":"2026-01-01T00:00:00Z","card":"4111111111111111","result":"declined"}`+"\n")
		cfg := writeFile(dir, "cep.yaml", `
rules: [rules]
state:
  dir: state
  encryption: {key: "${env:CEP_STATE_KEY}"}
sources: [{type: file, path: payments.jsonl, stream: payments, follow: true, poll_interval: 20ms}]
sinks: [{name: archive, type: file, file: {path: alerts.jsonl}}]
`)
		key := strings.Repeat("ab", 32)
		s := startCepEnv(dir, []string{"CEP_STATE_KEY=" + key}, "run", "--config", cfg)
		Eventually(func() bool { return hasCheckpoint(filepath.Join(dir, "state")) }).Should(BeTrue())
		s.Signal(syscall.SIGTERM)
		Eventually(s).Should(gexec.Exit(0))
		ents, err := os.ReadDir(filepath.Join(dir, "state"))
		Expect(err).NotTo(HaveOccurred())
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(dir, "state", e.Name()))
			Expect(err).NotTo(HaveOccurred())
			Expect(string(b)).NotTo(ContainSubstring("4111111111111111"), e.Name())
		}

		By("restarting without the key")
		noKey := writeFile(dir, "nokey.yaml", `
rules: [rules]
state: {dir: state}
sources: [{type: file, path: payments.jsonl, stream: payments}]
`)
		r := cep(dir, nil, "run", "--config", noKey)
		Expect(r.code).To(Equal(2))
		Expect(r.stderr).To(ContainSubstring("is encrypted with key"))
	})
})
