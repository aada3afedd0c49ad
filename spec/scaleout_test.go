package spec

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/cep-project/cep/state/redistest"
)

// The scale-out specs run several cep processes in one consumer group of
// a kfake broker (in this process, over loopback TCP), with their tasks'
// state in a real redis-server.

const scaleOutPartitions = 6

// scaleOutRun is a config in dir reading the fraud example's three topics
// live as a member of group "fraud", with its state in Redis at addr, to
// a file and to a webhook at hook (whose slowness keeps a run going long
// enough to interrupt).
func scaleOutRun(dir, broker, addr, hook string) string {
	root := repoRoot()
	sources := ""
	for _, st := range kafkaStreams {
		sources += fmt.Sprintf("  - {type: kafka, brokers: [%q], topic: %s, idle_timeout: 2s}\n", broker, st)
	}
	return writeFile(dir, "cep.yaml", fmt.Sprintf(`
rules: [%[1]s/examples/fraud/rules]
lists: %[1]s/examples/fraud/lists
models: %[1]s/examples/fraud/models
engine: {allowed_lateness: 5s, idle_timeout: 2s}
scale_out: {group: fraud, session_timeout: 6s, repartition: false}
state:
  interval: %[5]s
  redis:
    addr: %[3]s
    lease: {ttl: %[6]s}
sources:
%[2]s
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
`, root, sources, addr, hook, stateInterval, leaseTTL))
}

var assigned = regexp.MustCompile(`msg="tasks assigned".* tasks="?\[([0-9 ]*)\]`)

// tasksOf is the tasks a process's log says it was given last.
func tasksOf(s *gexec.Session) string {
	m := assigned.FindAllStringSubmatch(string(s.Err.Contents()), -1)
	if m == nil {
		return "none yet"
	}
	return "[" + m[len(m)-1][1] + "]"
}

// settled waits until the processes' alerts have stopped coming for
// several idle timeouts: every event read, and what the end of input
// would fire (windows still open) is not due in a live run.
func settled(dirs ...string) {
	GinkgoHelper()
	count := func() int { return total(union(dirs...)) }
	Eventually(func() bool { n := count(); time.Sleep(6 * time.Second); return n > 0 && count() == n }, "3m").Should(BeTrue())
}

// stopAll stops the processes gracefully.
func stopAll(ss ...*gexec.Session) {
	GinkgoHelper()
	for _, s := range ss {
		s.Terminate()
	}
	for _, s := range ss {
		Eventually(s, "1m").Should(gexec.Exit(0), string(s.Err.Contents()))
	}
}

var _ = Describe("Kafka scale-out", Ordered, func() {
	var want map[string]int
	BeforeAll(func() {
		By("running one process over 6-partition topics: the alerts to compare with")
		cluster := startKafkaPartitions(fraudData, scaleOutPartitions)
		srv := redistest.Start(GinkgoT())
		dir := GinkgoT().TempDir()
		rcv := newSlowReceiver(0)
		s := startCep(dir, "run", "--config", scaleOutRun(dir, cluster.ListenAddrs()[0], srv.Addr(), rcv.srv.URL))
		Eventually(func() string { return tasksOf(s) }).Should(Equal("[0 1 2 3 4 5]"))
		settled(dir)
		stopAll(s)
		committed, end := groupOffsetsOf(cluster, "fraud", scaleOutPartitions)
		Expect(committed).To(Equal(end), "the process read every event and committed it to the group")
		want = archiveCounts(dir)
		Expect(len(want)).To(BeNumerically(">", 100))
		Expect(total(want)).To(Equal(len(want)), "one run has no duplicates")
	})

	It("gives a killed process's partitions to the other, which restores their state from Redis", func() {
		cluster := startKafkaPartitions(fraudData, scaleOutPartitions)
		broker := cluster.ListenAddrs()[0]
		srv := redistest.Start(GinkgoT())
		rcv := newSlowReceiver(50 * time.Millisecond)
		dirA, dirB := GinkgoT().TempDir(), GinkgoT().TempDir()
		a := startCep(dirA, "run", "--config", scaleOutRun(dirA, broker, srv.Addr(), rcv.srv.URL))
		b := startCep(dirB, "run", "--config", scaleOutRun(dirB, broker, srv.Addr(), rcv.srv.URL))
		Eventually(func() []string { return []string{tasksOf(a), tasksOf(b)} }).Should(ConsistOf("[0 1 2]", "[3 4 5]"))
		Eventually(func() int { return total(archiveCounts(dirA)) }).Should(BeNumerically(">=", len(want)/6))
		a.Kill()
		Eventually(a).Should(gexec.Exit())
		Expect(total(union(dirA, dirB))).To(BeNumerically("<", len(want)), "the kill came after the end: the spec proves nothing")

		By("the group gives every task to the survivor after the session timeout")
		Eventually(func() string { return tasksOf(b) }, "1m").Should(Equal("[0 1 2 3 4 5]"))
		settled(dirA, dirB)
		stopAll(b)
		Expect(string(b.Err.Contents())).To(ContainSubstring("restored checkpoint"))
		got := union(dirA, dirB)
		Expect(keys(got)).To(ConsistOf(keys(want)), "the union of alert ids equals one process's")
		Expect(total(got)-len(got)).To(BeNumerically("<=", total(archiveCounts(dirA))), "only alerts of the killed process after its last checkpoint come again")
		committed, end := groupOffsetsOf(cluster, "fraud", scaleOutPartitions)
		Expect(committed).To(Equal(end))
	})

	It("scales from one process to three mid-stream with no alert lost or doubled", func() {
		cluster := startKafkaPartitions(fraudData, scaleOutPartitions)
		broker := cluster.ListenAddrs()[0]
		srv := redistest.Start(GinkgoT())
		rcv := newSlowReceiver(50 * time.Millisecond)
		dirs := []string{GinkgoT().TempDir(), GinkgoT().TempDir(), GinkgoT().TempDir()}
		start := func(i int) *gexec.Session {
			return startCep(dirs[i], "run", "--config", scaleOutRun(dirs[i], broker, srv.Addr(), rcv.srv.URL))
		}
		a := start(0)
		Eventually(func() string { return tasksOf(a) }).Should(Equal("[0 1 2 3 4 5]"))
		Eventually(func() int { return total(union(dirs...)) }).Should(BeNumerically(">=", len(want)/6))
		b := start(1)
		Eventually(func() string { return tasksOf(b) }).Should(MatchRegexp(`^\[\d+ \d+ \d+\]$`))
		Eventually(func() int { return total(union(dirs...)) }).Should(BeNumerically(">=", len(want)/3))
		c := start(2)
		Eventually(func() string { return tasksOf(c) }).Should(MatchRegexp(`^\[\d+ \d+\]$`))
		Expect(total(union(dirs...))).To(BeNumerically("<", len(want)), "the third process came after the end: the spec proves nothing")
		settled(dirs...)
		stopAll(a, b, c)
		for _, s := range []*gexec.Session{a, b, c} {
			Expect(strings.Count(string(s.Err.Contents()), "level=ERROR")).To(BeZero(), string(s.Err.Contents()))
		}
		got := union(dirs...)
		Expect(keys(got)).To(ConsistOf(keys(want)), "the union of alert ids equals one process's")
		Expect(total(got)).To(Equal(len(got)), "a graceful rebalance hands a task over at a checkpoint: no alert comes twice")
		committed, end := groupOffsetsOf(cluster, "fraud", scaleOutPartitions)
		Expect(committed).To(Equal(end))
	})
})
