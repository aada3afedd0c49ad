package spec

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cep-project/cep/state/redistest"
)

// The scale-out specs run several cep processes in one consumer group of
// a kfake broker (in this process, over loopback TCP), with their tasks'
// state in a real redis-server.

const scaleOutPartitions = 6

// scaleOutIdle is the idle timeout of the scale-out runs' partitions and
// streams. A partition or stream that stops counting lets event time run
// on without it, and its next events come late and change windows' alerts:
// so it must be longer than a fetch can stall on a loaded, race-instrumented
// machine (2s was not). Alerts that only the end of input makes due come
// after both have passed: see settled.
const scaleOutIdle = 5 * time.Second

// scaleOutRun is a config in dir reading the fraud example's three topics
// live as a member of group "fraud", with its state in Redis at addr, to
// a file and to a webhook at hook (whose slowness keeps a run going long
// enough to interrupt).
func scaleOutRun(dir, broker, addr, hook string) string {
	GinkgoHelper()
	root := repoRoot()
	sources := ""
	for _, st := range kafkaStreams {
		sources += fmt.Sprintf("  - {type: kafka, brokers: [%q], topic: %s, idle_timeout: %s}\n", broker, st, scaleOutIdle)
	}
	return writeFile(dir, "cep.yaml", fmt.Sprintf(`
rules: [%[1]s/examples/fraud/rules]
lists: %[1]s/examples/fraud/lists
models: %[1]s/examples/fraud/models
engine: {allowed_lateness: 5s, idle_timeout: %[8]s}
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
  - name: bus
    type: kafka
    kafka: {brokers: [%[7]q], topic: alerts}
`, root, sources, addr, hook, stateInterval, leaseTTL, broker, scaleOutIdle))
}

// topicOrder reads n alerts from the alerts topic: for each rule and key,
// the alerts' times in the order the topic holds them.
func topicOrder(cluster *kfake.Cluster, n int) map[string][]string {
	GinkgoHelper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("alerts"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	Expect(err).NotTo(HaveOccurred())
	defer cl.Close()
	out := map[string][]string{}
	got := 0
	deadline := time.Now().Add(30 * time.Second)
	for got < n && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cl.PollFetches(ctx).EachRecord(func(rec *kgo.Record) {
			var a struct {
				Rule string         `json:"rule"`
				Time string         `json:"time"`
				Key  map[string]any `json:"key"`
			}
			Expect(json.Unmarshal(rec.Value, &a)).To(Succeed())
			k := a.Rule + fmt.Sprint(a.Key)
			out[k] = append(out[k], a.Time)
			got++
		})
		cancel()
	}
	Expect(got).To(Equal(n))
	return out
}

// oneTask reports whether one task raises every alert of a rule and key
// (as topicOrder names them), so that their order is defined: the rule's
// key is what the records of the events it reads are keyed by (see
// startKafkaPartitions: auth and account by user, card payments by card).
// Transfers and orders are keyed by their id, so the alerts of one
// account_user can come from any task; that their times happened to be in
// order in one run says nothing.
func oneTask(k string) bool {
	for _, rule := range []string{"fraud.impossible-travel", "fraud.tor-login", "fraud.high-risk-mcc", "fraud.unusual-amount", "fraud.card-testing"} {
		if strings.HasPrefix(k, rule+"map[") {
			return true
		}
	}
	return false
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
// longer than a partition's and then its stream's idle timeout: every
// event read and released, and what the end of input would fire (windows
// still open) is not due in a live run.
func settled(dirs ...string) {
	GinkgoHelper()
	settledFor(2*scaleOutIdle+2*time.Second, dirs...)
}

// settledFor is settled with quiet for how long no alert must come.
func settledFor(quiet time.Duration, dirs ...string) {
	GinkgoHelper()
	count := func() int { return total(union(dirs...)) }
	Eventually(func() bool { n := count(); time.Sleep(quiet); return n > 0 && count() == n }, "3m").Should(BeTrue())
}

// arrived waits until every id of want is among the ids got returns:
// waiting for a quiet spell alone would stop a process that a loaded
// machine has stalled for longer than the spell, and report its alerts
// still to come as lost. settled then waits out anything extra.
func arrived(want map[string]int, got func() map[string]int) {
	GinkgoHelper()
	missing := func() []string {
		have := got()
		var out []string
		for id := range want {
			if have[id] == 0 {
				out = append(out, id)
			}
		}
		return out
	}
	Eventually(missing, "3m", "500ms").Should(BeEmpty(), "alert ids still missing")
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
	var order map[string][]string
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
		order = topicOrder(cluster, len(want))
	})

	It("gives a killed process's partitions to the other, which restores their state from Redis", func() {
		// The events are written once both processes hold their tasks:
		// with them in the topics from the start, a process that joined
		// the group first read them all before the second joined (on a
		// loaded machine the second's start took 13 s on 2026-12-04),
		// and the kill came after the last alert.
		cluster := startEmptyKafka(scaleOutPartitions)
		broker := cluster.ListenAddrs()[0]
		srv := redistest.Start(GinkgoT())
		rcv := newSlowReceiver(150 * time.Millisecond)
		dirA, dirB := GinkgoT().TempDir(), GinkgoT().TempDir()
		a := startCep(dirA, "run", "--config", scaleOutRun(dirA, broker, srv.Addr(), rcv.srv.URL))
		b := startCep(dirB, "run", "--config", scaleOutRun(dirB, broker, srv.Addr(), rcv.srv.URL))
		Eventually(func() []string { return []string{tasksOf(a), tasksOf(b)} }, "1m").Should(ConsistOf("[0 1 2]", "[3 4 5]"))
		produceStreams(cluster, fraudData)
		// The kill comes as soon as the first has shown progress, not
		// after a share of the alerts: a process archives its alerts in
		// bursts (windows close, idle streams are passed), and waiting
		// for a sixth of them let both finish before the kill on
		// 2026-12-03 (119 of 119 delivered).
		Eventually(func() int { return total(archiveCounts(dirA)) }, "2m").Should(BeNumerically(">=", 1))
		a.Kill()
		Eventually(a).Should(gexec.Exit())
		Expect(total(union(dirA, dirB))).To(BeNumerically("<", len(want)), "the kill came after the end: the spec proves nothing")

		By("the group gives every task to the survivor after the session timeout")
		Eventually(func() string { return tasksOf(b) }, "1m").Should(Equal("[0 1 2 3 4 5]"))
		arrived(want, func() map[string]int { return union(dirA, dirB) })
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
		Eventually(func() int { return total(union(dirs...)) }, "2m").Should(BeNumerically(">=", len(want)/6))
		b := start(1)
		Eventually(func() string { return tasksOf(b) }).Should(MatchRegexp(`^\[\d+ \d+ \d+\]$`))
		Eventually(func() int { return total(union(dirs...)) }, "2m").Should(BeNumerically(">=", len(want)/3))
		c := start(2)
		Eventually(func() string { return tasksOf(c) }).Should(MatchRegexp(`^\[\d+ \d+\]$`))
		Expect(total(union(dirs...))).To(BeNumerically("<", len(want)), "the third process came after the end: the spec proves nothing")
		arrived(want, func() map[string]int { return union(dirs...) })
		settled(dirs...)
		stopAll(a, b, c)
		for _, s := range []*gexec.Session{a, b, c} {
			Expect(strings.Count(string(s.Err.Contents()), "level=ERROR")).To(BeZero(), string(s.Err.Contents()))
		}
		got := union(dirs...)
		Expect(keys(got)).To(ConsistOf(keys(want)), "the union of alert ids equals one process's")
		Expect(total(got)).To(Equal(len(got)), "a graceful rebalance hands a task over at a checkpoint: no alert comes twice")
		By("one key's alerts keep their order in the Kafka sink across the rebalances")
		scaled := topicOrder(cluster, len(got))
		checked := 0
		for k, times := range order {
			if len(times) < 2 || !oneTask(k) {
				continue
			}
			Expect(scaled[k]).To(Equal(times), "the alerts of %s", k)
			checked++
		}
		Expect(checked).To(BeNumerically(">=", 10))
		committed, end := groupOffsetsOf(cluster, "fraud", scaleOutPartitions)
		Expect(committed).To(Equal(end))
	})
})

// The repartitioning spec's events: logins keyed by user, payments keyed
// by card (each card is one user's), a sequence keyed by user over both.
const repartitionRules = `id: fail-then-pay
title: Failed login, then a large payment
by: [event.user]
sequence:
  within: 10m
  steps:
    - {name: fail, stream: auth, where: event.outcome == "failure"}
    - {name: pay, stream: payments, where: event.amount > 300.0}
`

// burstRule fires when one key makes n payments in a tumbling ten minutes.
func burstRule(id, key string, n int) string {
	return fmt.Sprintf(`id: %s
title: %d payments of one %s in ten minutes
streams: [payments]
by: [%s]
aggregate:
  window: {type: tumbling, size: 10m}
  measures: {n: count()}
  having: n >= %d
`, id, n, key, key, n)
}

// cardRule counts a card's payments on the card-keyed topic directly;
// userRule counts a user's, re-keyed from it: a copy read twice would
// count twice.
var cardRule, userRule = burstRule("card-burst", "event.card", 4), burstRule("user-burst", "event.user", 8)

// repartitionData writes the events to dir/auth.jsonl and
// dir/payments.jsonl and produces them into the topics of the same names,
// each keyed as its producers would key it, as live traffic comes: in
// waves of about seven minutes of event time, half a second apart, so
// that the processes keep up.
func repartitionData(dir string, cluster *kfake.Cluster) {
	GinkgoHelper()
	repartitionWaves(dir, cluster, func(int) {})
}

// repartitionWaves is repartitionData calling after with the number of
// each wave once it is written.
func repartitionWaves(dir string, cluster *kfake.Cluster, after func(wave int)) {
	GinkgoHelper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...))
	Expect(err).NotTo(HaveOccurred())
	defer cl.Close()
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	files := map[string]*strings.Builder{"auth": {}, "payments": {}}
	var recs []*kgo.Record
	wave := 0
	flush := func() {
		Expect(cl.ProduceSync(context.Background(), recs...).FirstErr()).To(Succeed())
		recs = recs[:0]
		wave++
		after(wave)
		time.Sleep(500 * time.Millisecond)
	}
	for i := range 4000 {
		if i > 0 && i%400 == 0 {
			flush()
		}
		user := fmt.Sprintf("u%d", i%61)
		ts := base.Add(time.Duration(i) * time.Second).Format(time.RFC3339)
		var topic, key, line string
		if i%4 == 0 {
			outcome := "success"
			if i%3 == 0 {
				outcome = "failure"
			}
			topic, key = "auth", user
			line = fmt.Sprintf(`{"id":"a%d","ts":%q,"user":%q,"outcome":%q}`, i, ts, user, outcome)
		} else {
			card := fmt.Sprintf("c%d-%d", i%61, i%2)
			topic, key = "payments", card
			line = fmt.Sprintf(`{"id":"p%d","ts":%q,"user":%q,"card":%q,"amount":%d}`, i, ts, user, card, (i*7919)%500)
		}
		files[topic].WriteString(line + "\n")
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(key), Value: []byte(line)})
	}
	flush()
	for name, b := range files {
		writeFile(dir, name+".jsonl", b.String())
	}
}

// endEventTime waits until the group has read every event and copy (its
// committed offsets are at the topics' ends), then writes an event five
// hours after the first to every partition of both topics, and to the files in dir
// (no rule fires on them): event time runs past every window and timeout
// in every task, as it does at the end of a replay, without waiting for
// idle timeouts. Written earlier, such an event could overtake copies
// still on their way, which it would then make late.
func endEventTime(dir string, cluster *kfake.Cluster, topics ...string) {
	GinkgoHelper()
	Eventually(func() bool { return drained(cluster, "pay", topics...) }, "2m", "200ms").Should(BeTrue())
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	Expect(err).NotTo(HaveOccurred())
	defer cl.Close()
	end := time.Date(2026, 11, 1, 5, 0, 0, 0, time.UTC).Format(time.RFC3339)
	var recs []*kgo.Record
	var auth, pay strings.Builder
	for part := range int32(scaleOutPartitions) {
		// A user whose re-keyed copies land in this partition too, so
		// that every repartition partition has one.
		user := userIn(int(part))
		a := fmt.Sprintf(`{"id":"end-a%d","ts":%q,"user":%q,"outcome":"none"}`, part, end, user)
		p := fmt.Sprintf(`{"id":"end-p%d","ts":%q,"user":%q,"card":"end%d","amount":0}`, part, end, user, part)
		auth.WriteString(a + "\n")
		pay.WriteString(p + "\n")
		recs = append(recs, &kgo.Record{Topic: "auth", Partition: part, Value: []byte(a)}, &kgo.Record{Topic: "payments", Partition: part, Value: []byte(p)})
	}
	Expect(cl.ProduceSync(context.Background(), recs...).FirstErr()).To(Succeed())
	appendLines(filepath.Join(dir, "auth.jsonl"), strings.Split(strings.TrimSpace(auth.String()), "\n")...)
	appendLines(filepath.Join(dir, "payments.jsonl"), strings.Split(strings.TrimSpace(pay.String()), "\n")...)
}

// drained reports whether group's committed offsets are at the end of
// every partition of the topics.
func drained(cluster *kfake.Cluster, group string, topics ...string) bool {
	cl := &kafka.Client{Addr: kafka.TCP(cluster.ListenAddrs()...)}
	parts := map[string][]int{}
	lists := map[string][]kafka.OffsetRequest{}
	for _, t := range topics {
		for p := range scaleOutPartitions {
			parts[t] = append(parts[t], p)
			lists[t] = append(lists[t], kafka.LastOffsetOf(p))
		}
	}
	offs, err := cl.OffsetFetch(context.Background(), &kafka.OffsetFetchRequest{GroupID: group, Topics: parts})
	if err != nil || offs.Error != nil {
		return false
	}
	ends, err := cl.ListOffsets(context.Background(), &kafka.ListOffsetsRequest{Topics: lists})
	if err != nil {
		return false
	}
	end := map[string]int64{}
	for t, ps := range ends.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return false
			}
			end[fmt.Sprint(t, p.Partition)] = p.LastOffset
		}
	}
	for t, ps := range offs.Topics {
		for _, p := range ps {
			if p.Error != nil || p.CommittedOffset != end[fmt.Sprint(t, p.Partition)] {
				return false
			}
		}
	}
	return len(offs.Topics) == len(topics)
}

// userIn is a user name that the murmur2 partitioner, which writes
// re-keyed copies, puts in partition part of the spec's topics.
func userIn(part int) string {
	parts := make([]int, scaleOutPartitions)
	for i := range parts {
		parts[i] = i
	}
	for n := 0; ; n++ {
		u := fmt.Sprintf("end%d", n)
		if (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: []byte(u)}, parts...) == part {
			return u
		}
	}
}

// repartitionRun is a scale-out config over auth and payments, declaring
// how the topics are keyed. The allowed lateness covers the whole 67
// minutes of the data: after a kill -9, the new owner copies again what
// the killed process had not checkpointed, behind copies of events up to
// an hour later, and on a loaded machine the killed process may not have
// got far.
func repartitionRun(dir, broker, addr, paymentsKey string) string {
	writeFile(dir, "rules/seq.yaml", repartitionRules)
	writeFile(dir, "rules/card.yaml", cardRule)
	writeFile(dir, "rules/user.yaml", userRule)
	return writeFile(dir, "cep.yaml", fmt.Sprintf(`
rules: [rules]
engine: {allowed_lateness: 3h, idle_timeout: 1m, max_future: 6h}
scale_out: {group: pay, session_timeout: 6s}
state:
  interval: 300ms
  redis: {addr: %[2]s, lease: {ttl: 5s}}
sources:
  - {type: kafka, brokers: [%[1]q], topic: auth, keyed_by: [event.user], idle_timeout: 1m}
  - {type: kafka, brokers: [%[1]q], topic: payments, keyed_by: [%[3]s], idle_timeout: 1m}
metrics: {listen: "127.0.0.1:0"}
sinks:
  - {name: archive, type: file, file: {path: alerts.jsonl}}
`, broker, addr, paymentsKey))
}

// replayOf replays the events data holds through the same rules, into a
// new directory's alerts.jsonl.
func replayOf(data string) string {
	GinkgoHelper()
	replay := GinkgoT().TempDir()
	writeFile(replay, "rules/seq.yaml", repartitionRules)
	writeFile(replay, "rules/card.yaml", cardRule)
	writeFile(replay, "rules/user.yaml", userRule)
	r := cep(replay, nil, "run", "--rules", "rules", "--input", "auth="+data+"/auth.jsonl", "--input", "payments="+data+"/payments.jsonl", "--output", "alerts.jsonl")
	Expect(r.code).To(Equal(0), r.stderr)
	return replay
}

// idsOf counts alert ids of one rule in the file sinks of dirs.
func idsOf(rule string, dirs ...string) map[string]int {
	out := map[string]int{}
	for _, d := range dirs {
		for _, a := range alertsOf(readFile(filepath.Join(d, "alerts.jsonl"))) {
			if a["rule"] == rule {
				out[a["id"].(string)]++
			}
		}
	}
	return out
}

var _ = Describe("Kafka scale-out with repartitioning", func() {
	// run starts two processes over fresh topics, the payments topic
	// declared keyed by paymentsKey, and returns the directories of
	// their alerts and of a replay of the same events.
	run := func(paymentsKey string) (procs []string, replay, logs string) {
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(scaleOutPartitions, "auth", "payments"))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(cluster.Close)
		srv := redistest.Start(GinkgoT())
		dirA, dirB := GinkgoT().TempDir(), GinkgoT().TempDir()
		broker := cluster.ListenAddrs()[0]
		a := startCep(dirA, "run", "--config", repartitionRun(dirA, broker, srv.Addr(), paymentsKey))
		b := startCep(dirB, "run", "--config", repartitionRun(dirB, broker, srv.Addr(), paymentsKey))
		Eventually(func() []string { return []string{tasksOf(a), tasksOf(b)} }).Should(ConsistOf("[0 1 2]", "[3 4 5]"))
		data := GinkgoT().TempDir()
		repartitionData(data, cluster)
		topics := []string{"auth", "payments"}
		if paymentsKey != "event.user" {
			topics = append(topics, "pay.repartition.user.payments")
		}
		endEventTime(data, cluster, topics...)
		replay = replayOf(data)
		if paymentsKey != "event.user" {
			for _, rule := range []string{"fail-then-pay", "card-burst", "user-burst"} {
				arrived(idsOf(rule, replay), func() map[string]int { return idsOf(rule, dirA, dirB) })
			}
		}

		// Re-keyed copies come after the events of their topics, and the
		// broker in this (race-instrumented) process can be slow: the
		// idle timeouts, which release a stream that delivers nothing,
		// are long enough to wait for them (see the README), and the last
		// events end event time instead.
		settledFor(10*time.Second, dirA, dirB)
		stopAll(a, b)
		// A few thousand events take each process some 80 MB; a writer of
		// copies sized for a million messages a batch took 3.5 GB, and on
		// a loaded machine stalled a process past its lease.
		for _, s := range []*gexec.Session{a, b} {
			Expect(summaryInt(string(s.Err.Contents()), "peak_rss_bytes")).To(BeNumerically("<", 512<<20), "peak RSS")
		}
		return []string{dirA, dirB}, replay, string(a.Err.Contents()) + string(b.Err.Contents())
	}

	It("re-keys payments by user so that a sequence over logins and payments fires as in one process", func() {
		procs, replay, logs := run("event.card")
		want := idsOf("fail-then-pay", replay)
		Expect(len(want)).To(BeNumerically(">", 100))
		got := idsOf("fail-then-pay", procs...)
		Expect(keys(got)).To(ConsistOf(keys(want)), "the sequence's alerts of a replay of the same events")
		Expect(total(got)).To(Equal(len(got)), "each once")
		Expect(logs).To(ContainSubstring("pay.repartition.user.payments"))
		By("the rule keyed as its topic runs on the topic's partitions")
		cards := idsOf("card-burst", procs...)
		Expect(keys(cards)).To(ConsistOf(keys(idsOf("card-burst", replay))))
		Expect(total(cards)).To(Equal(len(cards)))
	})

	It("counts every re-keyed event once when a process is killed -9 mid-stream", func() {
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(scaleOutPartitions, "auth", "payments"))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(cluster.Close)
		srv := redistest.Start(GinkgoT())
		dirA, dirB := GinkgoT().TempDir(), GinkgoT().TempDir()
		broker := cluster.ListenAddrs()[0]
		a := startCep(dirA, "run", "--config", repartitionRun(dirA, broker, srv.Addr(), "event.card"))
		b := startCep(dirB, "run", "--config", repartitionRun(dirB, broker, srv.Addr(), "event.card"))
		Eventually(func() []string { return []string{tasksOf(a), tasksOf(b)} }).Should(ConsistOf("[0 1 2]", "[3 4 5]"))
		data := GinkgoT().TempDir()
		repartitionWaves(data, cluster, func(wave int) {
			if wave == 4 {
				a.Kill()
			}
		})
		Eventually(a).Should(gexec.Exit())
		endEventTime(data, cluster, "auth", "payments", "pay.repartition.user.payments")
		replay := replayOf(data)
		for _, rule := range []string{"fail-then-pay", "user-burst"} {
			arrived(idsOf(rule, replay), func() map[string]int { return idsOf(rule, dirA, dirB) })
		}
		settledFor(5*time.Second, dirA, dirB)
		stopAll(b)
		Expect(keys(idsOf("fail-then-pay", dirA, dirB))).To(ConsistOf(keys(idsOf("fail-then-pay", replay))))
		// A copy counted twice would make a window alert the replay does
		// not make (its id names the window's events).
		wantUsers := idsOf("user-burst", replay)
		Expect(len(wantUsers)).To(BeNumerically(">", 10))
		Expect(keys(idsOf("user-burst", dirA, dirB))).To(ConsistOf(keys(wantUsers)))
		GinkgoWriter.Printf("copies skipped after the kill: %d log lines\n", strings.Count(string(b.Err.Contents()), "copies written twice skipped"))
	})

	It("misses sequence matches when the topics are declared keyed by user but are not (the control)", func() {
		procs, replay, _ := run("event.user")
		Expect(len(idsOf("fail-then-pay", procs...))).To(BeNumerically("<", len(idsOf("fail-then-pay", replay))),
			"without re-keying, a user's logins and payments meet in one task only by chance")
	})
})
