package spec

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

// receiver is a webhook endpoint that counts deliveries by alert id and can
// be taken down (answering 503) and brought back.
type receiver struct {
	srv  *httptest.Server
	down atomic.Bool
	mu   sync.Mutex
	got  map[string]int
}

func newReceiver() *receiver {
	r := &receiver{got: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if r.down.Load() {
			http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			return
		}
		var body struct {
			ID string `json:"id"`
		}
		if err := json.NewDecoder(req.Body).Decode(&body); err != nil || body.ID == "" {
			http.Error(w, "the body is not an alert", http.StatusBadRequest)
			return
		}
		id := body.ID
		r.mu.Lock()
		r.got[id]++
		r.mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	DeferCleanup(r.srv.Close)
	return r
}

func (r *receiver) ids() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.got {
		out[k] = v
	}
	return out
}

// sinkConfig writes a config that follows events.jsonl and sends alerts to
// url through a webhook sink with a disk spool, and also to alerts.jsonl.
func sinkConfig(dir, url string) string {
	rules := filepath.Join(repoRoot(), "spec/testdata/rules")
	return writeFile(dir, "cep.yaml", fmt.Sprintf(`
rules: [%s]
engine: {allowed_lateness: 0s, idle_timeout: 1s}
sources:
  - {type: file, path: events.jsonl, stream: auth, follow: true, poll_interval: 50ms}
sinks:
  - name: soar
    type: webhook
    timeout: 2s
    retry: {max_attempts: 2, initial_interval: 50ms, max_interval: 200ms}
    breaker: {failures: 3, cooldown: 200ms}
    spool: {dir: spool}
    webhook: {url: %q}
  - name: archive
    type: file
    file: {path: alerts.jsonl}
`, rules, url+"/hook"))
}

// appendFailures appends n failed logins starting at second from.
func appendFailures(path string, from, n int) {
	GinkgoHelper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	Expect(err).NotTo(HaveOccurred())
	defer f.Close()
	for i := from; i < from+n; i++ {
		fmt.Fprintf(f, `{"id":"a%d","ts":%d,"user":"u%d","outcome":"failure"}`+"\n", i, 1_767_225_600+i, i)
	}
}

func startCep(dir string, args ...string) *gexec.Session {
	GinkgoHelper()
	return startCepEnv(dir, nil, args...)
}

// startCepEnv is startCep with env (NAME=value) added to the environment.
func startCepEnv(dir string, env []string, args ...string) *gexec.Session {
	GinkgoHelper()
	cmd := exec.Command(cepBin, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	s, err := gexec.Start(cmd, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func() { s.Kill().Wait() })
	return s
}

// archived returns the alert ids in the file sink's output, which cep
// may be writing.
func archived(dir string) []string {
	data, _ := os.ReadFile(filepath.Join(dir, "alerts.jsonl"))
	var ids []string
	for _, a := range alertsOf(wholeLines(data)) {
		ids = append(ids, a["id"].(string))
	}
	return ids
}

var _ = Describe("delivery to a SIEM/SOAR sink", func() {
	It("delivers every alert exactly once, by id, across an outage", func() {
		dir := GinkgoT().TempDir()
		rcv := newReceiver()
		events := filepath.Join(dir, "events.jsonl")
		appendFailures(events, 0, 20)
		s := startCep(dir, "run", "--config", sinkConfig(dir, rcv.srv.URL))
		Eventually(func() int { return len(rcv.ids()) }).Should(Equal(20))

		By("taking the receiver down while events keep coming")
		rcv.down.Store(true)
		appendFailures(events, 20, 30)
		Eventually(func() int { return len(archived(dir)) }).Should(Equal(50))
		Consistently(func() int { return len(rcv.ids()) }, "500ms").Should(Equal(20))

		By("bringing it back: the spool drains")
		rcv.down.Store(false)
		appendFailures(events, 50, 10)
		Eventually(func() int { return len(rcv.ids()) }).Should(Equal(60))
		for _, id := range archived(dir) {
			Expect(rcv.ids()).To(HaveKeyWithValue(id, 1), "alert %s", id)
		}
		s.Signal(syscall.SIGTERM)
		Eventually(s).Should(gexec.Exit())
	})

	It("delivers alerts left in the spool after cep is killed and restarted", func() {
		dir := GinkgoT().TempDir()
		rcv := newReceiver()
		rcv.down.Store(true)
		events := filepath.Join(dir, "events.jsonl")
		appendFailures(events, 0, 25)
		cfg := sinkConfig(dir, rcv.srv.URL)
		s := startCep(dir, "run", "--config", cfg)
		Eventually(func() int { return len(archived(dir)) }).Should(Equal(25))
		Eventually(func() bool { return spoolHolds(filepath.Join(dir, "spool")) }).Should(BeTrue())
		// Let the sender spool everything it holds, then kill it hard.
		time.Sleep(time.Second)
		s.Kill()
		Eventually(s).Should(gexec.Exit())
		Expect(rcv.ids()).To(BeEmpty())

		By("restarting with no new events while the receiver is back")
		rcv.down.Store(false)
		Expect(os.WriteFile(events, nil, 0o644)).To(Succeed())
		s2 := startCep(dir, "run", "--config", cfg)
		Eventually(func() int { return len(rcv.ids()) }).Should(Equal(25))
		for _, id := range archived(dir) {
			Expect(rcv.ids()).To(HaveKeyWithValue(id, 1))
		}
		s2.Signal(syscall.SIGTERM)
		Eventually(s2).Should(gexec.Exit())
	})
})

func spoolHolds(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && !e.IsDir() && info.Size() > 0 && !strings.HasPrefix(e.Name(), "dead") {
			return true
		}
	}
	return false
}
