package spec

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	"github.com/redis/go-redis/v9"

	"github.com/cep-project/cep/state/redistest"
)

// The Redis specs run cep against a real redis-server, started for each
// spec on a free loopback port with its own directory.

const (
	leaseTTL      = 2 * time.Second
	stateInterval = 300 * time.Millisecond
)

// redisRun is a config in dir that reads the fraud example's data from
// data, keeps its state in Redis at addr, and delivers to a file and to a
// webhook (whose slowness keeps the run going long enough to interrupt).
func redisRun(dir, data, addr, hook string) string {
	root := repoRoot()
	return writeFile(dir, "cep.yaml", fmt.Sprintf(`
rules: [%[1]s/examples/fraud/rules]
lists: %[1]s/examples/fraud/lists
models: %[1]s/examples/fraud/models
engine: {allowed_lateness: 5s}
state:
  interval: %[5]s
  redis:
    addr: %[3]s
    lease: {name: fraud, ttl: %[6]s}
sources:
  - {type: file, path: %[2]s/payments.jsonl, stream: payments}
  - {type: file, path: %[2]s/auth.jsonl, stream: auth}
  - {type: file, path: %[2]s/account.jsonl, stream: account}
  - {type: file, path: %[2]s/orders.jsonl, stream: orders}
metrics: {listen: "127.0.0.1:0"}
sinks:
  - name: archive
    type: file
    file: {path: alerts.jsonl}
  - name: soar
    type: webhook
    batch: {max_alerts: 1}
    queue: 16
    spool: {dir: spool}
    webhook: {url: %[4]q}
`, root, data, addr, hook, stateInterval, leaseTTL))
}

// redisClient talks to the spec's server, to look at what cep keeps there.
func redisClient(addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr})
	DeferCleanup(c.Close)
	return c
}

// checkpointID is the id of the newest checkpoint in Redis, 0 without one.
func checkpointID(c *redis.Client) int {
	id, err := c.HGet(context.Background(), "cep:{fraud}:head", "id").Int()
	if err != nil {
		return 0
	}
	return id
}

var metricsAddr = regexp.MustCompile(`msg="serving metrics" address=(\S+)`)

// healthOf returns a running cep's /healthz role, or "" before it serves.
func healthOf(s *gexec.Session) func() string {
	return func() string {
		m := metricsAddr.FindStringSubmatch(string(s.Err.Contents()))
		if m == nil {
			return ""
		}
		var h struct {
			Role  string `json:"role"`
			Store struct {
				Up bool `json:"up"`
			} `json:"store"`
		}
		if err := getJSON("http://"+m[1]+"/healthz", &h); err != nil {
			return ""
		}
		if !h.Store.Up {
			return h.Role + ", redis down"
		}
		return h.Role
	}
}

var logTime = regexp.MustCompile(`time=(\S+) level=INFO msg="lease acquired`)

// leaseAcquiredAt is when a cep's log says it took the lease.
func leaseAcquiredAt(s *gexec.Session) time.Time {
	GinkgoHelper()
	m := logTime.FindStringSubmatch(string(s.Err.Contents()))
	Expect(m).NotTo(BeNil())
	t, err := time.Parse(time.RFC3339Nano, m[1])
	Expect(err).NotTo(HaveOccurred())
	return t
}

// union adds up the file sinks of several runs by alert id.
func union(dirs ...string) map[string]int {
	out := map[string]int{}
	for _, d := range dirs {
		for id, n := range archiveCounts(d) {
			out[id] += n
		}
	}
	return out
}

var _ = Describe("state in Redis", Ordered, func() {
	var data string
	var want map[string]int
	BeforeAll(func() {
		data = fraudData
		By("running the fraud example once, uninterrupted, with its state in Redis")
		srv := redistest.Start(GinkgoT())
		dir := GinkgoT().TempDir()
		rcv := newSlowReceiver(0)
		s := startCep(dir, "run", "--config", redisRun(dir, data, srv.Addr(), rcv.srv.URL))
		Eventually(s, "2m").Should(gexec.Exit(0))
		want = archiveCounts(dir)
		Expect(len(want)).To(BeNumerically(">", 200))
		Expect(total(want)).To(Equal(len(want)), "one run has no duplicates")
		Expect(string(s.Err.Contents())).To(ContainSubstring("lease released"))
	})

	It("loses no alert when killed -9 and restarted on an empty local disk", func() {
		srv := redistest.Start(GinkgoT())
		rdb := redisClient(srv.Addr())
		rcv := newSlowReceiver(10 * time.Millisecond)
		first := GinkgoT().TempDir()
		s := startCep(first, "run", "--config", redisRun(first, data, srv.Addr(), rcv.srv.URL))
		Eventually(func() int { return checkpointID(rdb) }).Should(BeNumerically(">", 0))
		Eventually(func() int { return total(archiveCounts(first)) }).Should(BeNumerically(">=", len(want)/3))
		s.Kill()
		Eventually(s).Should(gexec.Exit())
		Expect(len(rcv.ids())).To(BeNumerically("<", len(want)), "the kill came after the end: the spec proves nothing")

		By("starting again in a new directory: the state is all in Redis")
		second := GinkgoT().TempDir()
		s2 := startCep(second, "run", "--config", redisRun(second, data, srv.Addr(), rcv.srv.URL))
		Eventually(s2, "2m").Should(gexec.Exit(0))
		Expect(string(s2.Err.Contents())).To(ContainSubstring("restored checkpoint"))
		Expect(keys(union(first, second))).To(ConsistOf(keys(want)), "the set of alert ids equals one run's")
		Expect(keys(rcv.ids())).To(ConsistOf(keys(want)), "the webhook got every alert")
	})

	It("fails over to a standby within the lease TTL and a checkpoint interval, and the restarted process stands by", func() {
		srv := redistest.Start(GinkgoT())
		rdb := redisClient(srv.Addr())
		rcv := newSlowReceiver(10 * time.Millisecond)
		dirA, dirB, dirA2 := GinkgoT().TempDir(), GinkgoT().TempDir(), GinkgoT().TempDir()
		a := startCep(dirA, "run", "--config", redisRun(dirA, data, srv.Addr(), rcv.srv.URL))
		Eventually(healthOf(a)).Should(Equal("active"))
		b := startCep(dirB, "run", "--config", redisRun(dirB, data, srv.Addr(), rcv.srv.URL))
		Eventually(healthOf(b)).Should(Equal("standby"))
		// Health may say standby a moment before the log line is out.
		Eventually(func() string { return string(b.Err.Contents()) }).Should(ContainSubstring("standby: the lease is held by another process"))

		Eventually(func() int { return checkpointID(rdb) }).Should(BeNumerically(">", 0))
		Eventually(func() int { return total(archiveCounts(dirA)) }).Should(BeNumerically(">=", len(want)/3))
		Expect(archiveCounts(dirB)).To(BeEmpty(), "the standby emitted alerts")
		a.Kill()
		killed := time.Now()
		Eventually(a).Should(gexec.Exit())
		Expect(len(rcv.ids())).To(BeNumerically("<", len(want)), "the kill came after the end: the spec proves nothing")

		Eventually(func() string { return string(b.Err.Contents()) }, leaseTTL+10*time.Second).Should(ContainSubstring("lease acquired"))
		took := leaseAcquiredAt(b).Sub(killed)
		GinkgoWriter.Printf("the standby took over %v after the kill\n", took)
		Expect(took).To(BeNumerically("<=", leaseTTL+stateInterval), "took over later than the lease TTL plus a checkpoint interval")
		Eventually(healthOf(b)).Should(Or(Equal("active"), Equal("stopping"), Equal("stopped"), Equal("")))

		By("restarting the killed process: it stands by")
		a2 := startCep(dirA2, "run", "--config", redisRun(dirA2, data, srv.Addr(), rcv.srv.URL))
		Eventually(func() string { return string(a2.Err.Contents()) }).Should(ContainSubstring("standby: waiting for the state's lease"))
		Eventually(b, "2m").Should(gexec.Exit(0))
		Expect(string(b.Err.Contents())).To(ContainSubstring("restored checkpoint"))
		// The active one ended with its input and gave the lease up: the
		// standby takes it, finds every source read, and ends too.
		Eventually(a2, "1m").Should(gexec.Exit(0))
		Expect(string(a2.Err.Contents())).To(ContainSubstring("lease acquired"))
		Expect(keys(union(dirA, dirB, dirA2))).To(ConsistOf(keys(want)), "the union of alert ids equals one run's")
		Expect(archiveCounts(dirA2)).To(BeEmpty(), "a standby that took over after the end emitted alerts")
	})

	It("rides out a restart of redis-server: it stops reading, resumes, and loses or repeats nothing", func() {
		srv := redistest.Start(GinkgoT())
		rdb := redisClient(srv.Addr())
		rcv := newSlowReceiver(20 * time.Millisecond)
		dir := GinkgoT().TempDir()
		s := startCep(dir, "run", "--config", redisRun(dir, data, srv.Addr(), rcv.srv.URL), "--log-level", "debug")
		Eventually(func() int { return checkpointID(rdb) }).Should(BeNumerically(">", 0))
		Eventually(func() int { return total(archiveCounts(dir)) }).Should(BeNumerically(">=", len(want)/5))
		srv.Stop()
		Eventually(healthOf(s)).Should(HaveSuffix("redis down"))
		// Down for longer than the lease: the process must stop reading
		// and emitting, and be able to take its lease back.
		time.Sleep(leaseTTL + time.Second)
		Expect(s).NotTo(gexec.Exit(), "the process ended while Redis was down")
		during := total(archiveCounts(dir))
		Expect(during).To(BeNumerically("<", len(want)), "the restart came after the end: the spec proves nothing")
		Consistently(func() int { return total(archiveCounts(dir)) }, "500ms").Should(BeNumerically("<=", during+16),
			"alerts kept coming while the state could not be saved")
		srv.StartAgain()
		Eventually(s, "2m").Should(gexec.Exit(0))
		log := string(s.Err.Contents())
		Expect(log).To(ContainSubstring("redis does not answer"))
		Expect(log).To(ContainSubstring("stopped reading sources"))
		Expect(log).To(ContainSubstring("reading sources again"))
		Expect(archiveCounts(dir)).To(Equal(want), "exactly one run's alerts, each once")
		Expect(rcv.ids()).To(Equal(want), "the webhook got each alert once")
	})

	It("refuses Redis state in a layout it does not know, saying so", func() {
		srv := redistest.Start(GinkgoT())
		rdb := redisClient(srv.Addr())
		Expect(rdb.HSet(context.Background(), "cep:{fraud}:head", "layout", "9", "id", "4").Err()).To(Succeed())
		dir := GinkgoT().TempDir()
		rcv := newSlowReceiver(0)
		r := cep(dir, nil, "run", "--config", redisRun(dir, data, srv.Addr(), rcv.srv.URL))
		Expect(r.code).To(Equal(2), r.stderr)
		Expect(r.stderr).To(ContainSubstring("is in layout version 9; this cep reads layouts 1 to 1"))
		Expect(r.stderr).To(ContainSubstring("cep:{fraud}:*"))
		_, err := os.Stat(filepath.Join(dir, "alerts.jsonl"))
		Expect(os.IsNotExist(err) || strings.TrimSpace(readFile(filepath.Join(dir, "alerts.jsonl"))) == "").To(BeTrue())
	})
})

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

// getJSON decodes the JSON a GET of url returns, whatever its status.
func getJSON(url string, v any) error {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}
