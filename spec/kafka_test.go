package spec

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The Kafka specs host a Kafka-protocol broker (kfake) in this process on
// a loopback port; cep reaches it over TCP with its own client, as it
// would a real cluster.

// kafkaStreams are the fraud example's streams the specs produce, each
// into a topic of its name.
var kafkaStreams = []string{"payments", "auth", "account"}

// startKafka starts a broker with a three-partition topic per stream and
// produces each stream's file into its topic, keyed by user (payments by
// card) so that one entity's events keep their order in one partition.
func startKafka(data string) *kfake.Cluster {
	GinkgoHelper()
	return startKafkaPartitions(data, 3)
}

// startKafkaPartitions is startKafka with n partitions a topic.
func startKafkaPartitions(data string, n int32) *kfake.Cluster {
	GinkgoHelper()
	cluster := startEmptyKafka(n)
	produceStreams(cluster, data)
	return cluster
}

// startEmptyKafka starts a broker whose topics, of n partitions each, are
// empty.
func startEmptyKafka(n int32) *kfake.Cluster {
	GinkgoHelper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(n, append([]string{"alerts"}, kafkaStreams...)...))
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(cluster.Close)
	return cluster
}

// produceStreams writes the streams' files under data to their topics,
// each event keyed by its user or card (else its id).
func produceStreams(cluster *kfake.Cluster, data string) {
	GinkgoHelper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ProducerLinger(5*time.Millisecond))
	Expect(err).NotTo(HaveOccurred())
	defer cl.Close()
	for _, st := range kafkaStreams {
		f, err := os.Open(filepath.Join(data, st+".jsonl"))
		Expect(err).NotTo(HaveOccurred())
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var recs []*kgo.Record
		for sc.Scan() {
			var ev struct {
				User string `json:"user"`
				Card string `json:"card_id"`
				ID   string `json:"id"`
			}
			Expect(json.Unmarshal(sc.Bytes(), &ev)).To(Succeed())
			key := ev.User + ev.Card
			if key == "" {
				key = ev.ID
			}
			recs = append(recs, &kgo.Record{Topic: st, Key: []byte(key), Value: append([]byte(nil), sc.Bytes()...)})
		}
		f.Close()
		Expect(sc.Err()).NotTo(HaveOccurred())
		Expect(cl.ProduceSync(context.Background(), recs...).FirstErr()).To(Succeed())
	}
}

// kafkaRun is a config reading the streams from the broker to the end
// the topics have at start, alerts to a file and to the alerts topic;
// extra is appended (state, a webhook).
func kafkaRun(dir, broker, extra string) string {
	root := repoRoot()
	sources := ""
	for _, st := range kafkaStreams {
		sources += fmt.Sprintf("  - {type: kafka, brokers: [%q], topic: %s, group: cep, stop_at_end: true, idle_timeout: 2s}\n", broker, st)
	}
	return writeFile(dir, "cep.yaml", fmt.Sprintf(`
rules: [%[1]s/examples/fraud/rules]
lists: %[1]s/examples/fraud/lists
models: %[1]s/examples/fraud/models
engine: {allowed_lateness: 5s}
sources:
%[2]s
sinks:
  - name: archive
    type: file
    file: {path: alerts.jsonl}
  - name: bus
    type: kafka
    kafka: {brokers: [%[3]q], topic: alerts}
%[4]s`, root, sources, broker, extra))
}

// fileRun is the same streams read from the files.
func fileRun(dir, data string) string {
	root := repoRoot()
	sources := ""
	for _, st := range kafkaStreams {
		sources += fmt.Sprintf("  - {type: file, path: %s/%s.jsonl, stream: %s}\n", data, st, st)
	}
	return writeFile(dir, "cep.yaml", fmt.Sprintf(`
rules: [%[1]s/examples/fraud/rules]
lists: %[1]s/examples/fraud/lists
models: %[1]s/examples/fraud/models
engine: {allowed_lateness: 5s}
sources:
%[2]s
sinks:
  - name: archive
    type: file
    file: {path: alerts.jsonl}
`, root, sources))
}

// topicCounts reads the alerts topic from its start: alert ids and how
// often each came.
func topicCounts(cluster *kfake.Cluster, want int) map[string]int {
	GinkgoHelper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("alerts"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	Expect(err).NotTo(HaveOccurred())
	defer cl.Close()
	got := map[string]int{}
	deadline := time.Now().Add(20 * time.Second)
	for total(got) < want && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		cl.PollFetches(ctx).EachRecord(func(rec *kgo.Record) {
			var a struct {
				ID string `json:"id"`
			}
			Expect(json.Unmarshal(rec.Value, &a)).To(Succeed())
			got[a.ID]++
		})
		cancel()
	}
	return got
}

func must[T any](v T, err error) T {
	GinkgoHelper()
	Expect(err).NotTo(HaveOccurred())
	return v
}

// groupOffsets returns the consumer group's committed offsets and the
// topics' end offsets, summed over partitions.
func groupOffsets(cluster *kfake.Cluster, group string) (committed, end int64) {
	GinkgoHelper()
	return groupOffsetsOf(cluster, group, 3)
}

// groupOffsetsOf is groupOffsets over n partitions a topic.
func groupOffsetsOf(cluster *kfake.Cluster, group string, n int) (committed, end int64) {
	GinkgoHelper()
	cl := &kafka.Client{Addr: kafka.TCP(cluster.ListenAddrs()...), Transport: &kafka.Transport{}}
	defer cl.Transport.(*kafka.Transport).CloseIdleConnections()
	ctx := context.Background()
	parts := map[string][]int{}
	lists := map[string][]kafka.OffsetRequest{}
	for _, st := range kafkaStreams {
		for p := range n {
			parts[st] = append(parts[st], p)
			lists[st] = append(lists[st], kafka.LastOffsetOf(p))
		}
	}
	offs, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: parts})
	Expect(err).NotTo(HaveOccurred())
	if !errors.Is(offs.Error, kafka.GroupIdNotFound) {
		// (kfake says so of a group that never committed.)
		Expect(offs.Error).NotTo(HaveOccurred())
	}
	for _, ps := range offs.Topics {
		for _, p := range ps {
			Expect(p.Error).NotTo(HaveOccurred())
			committed += max(p.CommittedOffset, 0)
		}
	}
	ends, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: lists})
	Expect(err).NotTo(HaveOccurred())
	for _, ps := range ends.Topics {
		for _, p := range ps {
			end += p.LastOffset
		}
	}
	return committed, end
}

var _ = Describe("Kafka sources", Ordered, func() {
	var data string
	var want map[string]int
	BeforeAll(func() {
		data = fraudData
		By("reading the streams from their files")
		dir := GinkgoT().TempDir()
		s := startCep(dir, "run", "--config", fileRun(dir, data))
		Eventually(s, "2m").Should(gexec.Exit(0))
		want = archiveCounts(dir)
		Expect(len(want)).To(BeNumerically(">", 100))
		Expect(total(want)).To(Equal(len(want)))
		By("replaying the files with --input: the same alerts")
		root := repoRoot()
		args := []string{"run", "--rules", root + "/examples/fraud/rules", "--lists", root + "/examples/fraud/lists",
			"--models", root + "/examples/fraud/models", "--output", "replay.jsonl"}
		for _, st := range kafkaStreams {
			args = append(args, "--input", filepath.Join(data, st+".jsonl"))
		}
		r := cep(dir, nil, args...)
		Expect(r.code).To(Equal(0), r.stderr)
		replayed, err := os.ReadFile(filepath.Join(dir, "replay.jsonl"))
		Expect(err).NotTo(HaveOccurred())
		ids := map[string]int{}
		for _, a := range alertsOf(string(replayed)) {
			ids[a["id"].(string)]++
		}
		Expect(ids).To(Equal(want))
	})

	It("reads three topics of the fraud example into the alerts of a file replay, to a file and a topic", func() {
		cluster := startKafka(data)
		broker := cluster.ListenAddrs()[0]
		dir := GinkgoT().TempDir()
		s := startCep(dir, "run", "--config", kafkaRun(dir, broker, "state: {dir: state}\n"))
		Eventually(s, "2m").Should(gexec.Exit(0))
		Expect(archiveCounts(dir)).To(Equal(want), "the alert ids of a file replay, each once")
		Expect(topicCounts(cluster, len(want))).To(Equal(want), "the alerts topic holds the same alerts")
		committed, end := groupOffsets(cluster, "cep")
		Expect(committed).To(Equal(end), "the last checkpoint's offsets are committed to the group")
		Expect(string(s.Err.Contents())).To(ContainSubstring("from=earliest"))
	})

	It("follows topics live and commits the last checkpoint's offsets on SIGTERM", func() {
		cluster := startKafka(data)
		broker := cluster.ListenAddrs()[0]
		dir := GinkgoT().TempDir()
		cfg := kafkaRun(dir, broker, "state: {dir: state, interval: 1h}\n")
		live := strings.ReplaceAll(string(must(os.ReadFile(cfg))), "stop_at_end: true", "stop_at_end: false")
		live = strings.Replace(live, "engine: {allowed_lateness: 5s}", "engine: {allowed_lateness: 5s, idle_timeout: 2s}", 1)
		writeFile(dir, "cep.yaml", live)
		s := startCep(dir, "run", "--config", cfg)
		// Every event is in the engine when the alerts have stopped coming
		// for longer than the idle timeouts (2s) of the partitions (the
		// source holds one partition's last events while it waits for the
		// others) and of the sources (the runtime holds a source's batch
		// that runs ahead of the others); the alerts the end of input
		// would fire (windows still open) are not due.
		count := func() int { return len(archiveCounts(dir)) }
		Eventually(count, "1m").Should(BeNumerically(">=", len(want)*3/4))
		Eventually(func() bool { n := count(); time.Sleep(5 * time.Second); return count() == n }, "1m").Should(BeTrue())
		Consistently(s, "300ms").ShouldNot(gexec.Exit(), "a live source does not end")
		committed, _ := groupOffsets(cluster, "cep")
		Expect(committed).To(BeZero(), "no checkpoint yet (interval 1h): nothing committed")
		s.Terminate()
		Eventually(s, "1m").Should(gexec.Exit(0))
		committed, end := groupOffsets(cluster, "cep")
		Expect(committed).To(Equal(end), "the checkpoint of the graceful stop committed every offset")
		got := archiveCounts(dir)
		for id, n := range got {
			Expect(want).To(HaveKey(id))
			Expect(n).To(Equal(1))
		}
	})

	It("loses no alert when killed -9 mid-stream and restarted from its checkpoint", func() {
		cluster := startKafka(data)
		broker := cluster.ListenAddrs()[0]
		dir := GinkgoT().TempDir()
		rcv := newSlowReceiver(20 * time.Millisecond)
		cfg := kafkaRun(dir, broker, fmt.Sprintf(`  - name: soar
    type: webhook
    batch: {max_alerts: 1}
    queue: 16
    spool: {dir: spool}
    webhook: {url: %q}
state: {dir: state, interval: 200ms}
`, rcv.srv.URL))
		s := startCep(dir, "run", "--config", cfg)
		Eventually(func() bool { return hasCheckpoint(filepath.Join(dir, "state")) }).Should(BeTrue())
		// Killed while the slow webhook (20 ms an alert) has a quarter of
		// the alerts: the rest take it seconds. Waiting for a third in the
		// archive instead let a run whose alerts came late in the input
		// (windows closing at its end) finish first on a loaded machine;
		// at 10 ms an alert, a loaded CI run once had every alert
		// delivered before the wait saw a quarter.
		Eventually(func() int { return len(rcv.ids()) }, "1m").Should(BeNumerically(">=", len(want)/4))
		s.Kill()
		Eventually(s).Should(gexec.Exit())
		first := archiveCounts(dir)
		Expect(len(rcv.ids())).To(BeNumerically("<", len(want)), "the kill came after the end: the spec proves nothing")

		s2 := startCep(dir, "run", "--config", cfg)
		Eventually(s2, "2m").Should(gexec.Exit(0))
		Expect(string(s2.Err.Contents())).To(ContainSubstring("restored checkpoint"))
		Expect(string(s2.Err.Contents())).To(ContainSubstring("from=checkpoint"))
		got := archiveCounts(dir)
		Expect(keys(got)).To(ConsistOf(keys(want)), "the set of alert ids equals one run's")
		Expect(total(got)-len(got)).To(BeNumerically("<=", total(first)), "only alerts of the first run after its last checkpoint come again")
		Expect(keys(rcv.ids())).To(ConsistOf(keys(want)), "the webhook got every alert")
		committed, end := groupOffsets(cluster, "cep")
		Expect(committed).To(Equal(end))
	})
})

// partitionRun reads topic events (two partitions) with a rule alerting
// on every event; extra source keys are appended.
func partitionRun(dir, broker, srcExtra string) string {
	writeFile(dir, "rules/every.yaml", `id: every
title: Every event
streams: [events]
match: event.n >= 0
`)
	return writeFile(dir, "cep.yaml", fmt.Sprintf(`
rules: [rules]
engine: {allowed_lateness: 5s, idle_timeout: 1s, late: drop}
sources:
  - {type: kafka, brokers: [%q], topic: events, %s}
sinks:
  - {name: archive, type: file, file: {path: alerts.jsonl}}
`, broker, srcExtra))
}

// produceAt writes events numbered from n, one a second of event time
// from base, to a partition.
func produceAt(cluster *kfake.Cluster, part int32, base time.Time, n, count int) {
	GinkgoHelper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	Expect(err).NotTo(HaveOccurred())
	defer cl.Close()
	var recs []*kgo.Record
	for i := range count {
		t := base.Add(time.Duration(i) * time.Second)
		recs = append(recs, &kgo.Record{Topic: "events", Partition: part, Timestamp: t,
			Value: fmt.Appendf(nil, `{"id":"e%d","ts":%q,"n":%d}`, n+i, t.Format(time.RFC3339), n+i)})
	}
	Expect(cl.ProduceSync(context.Background(), recs...).FirstErr()).To(Succeed())
}

var _ = Describe("Kafka partitions in event time", func() {
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

	It("holds the watermark back for a partition that lags by 10 minutes: none of its events is late", func() {
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "events"))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(cluster.Close)
		produceAt(cluster, 0, base.Add(10*time.Minute), 0, 300)
		produceAt(cluster, 1, base, 1000, 300)
		dir := GinkgoT().TempDir()
		s := startCep(dir, "run", "--config", partitionRun(dir, cluster.ListenAddrs()[0], "stop_at_end: true"))
		Eventually(s, "1m").Should(gexec.Exit(0))
		Expect(string(s.Err.Contents())).To(ContainSubstring(" late=0 "))
		Expect(total(archiveCounts(dir))).To(Equal(600), "every event of both partitions alerted, once")
	})

	It("replays a topic from a time", func() {
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "events"))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(cluster.Close)
		produceAt(cluster, 0, base, 0, 100)
		produceAt(cluster, 1, base, 1000, 100)
		dir := GinkgoT().TempDir()
		from := base.Add(60 * time.Second).Format(time.RFC3339)
		s := startCep(dir, "run", "--config", partitionRun(dir, cluster.ListenAddrs()[0], "stop_at_end: true, start: "+from))
		Eventually(s, "1m").Should(gexec.Exit(0))
		Expect(total(archiveCounts(dir))).To(Equal(80), "the last 40 seconds of each partition")
	})

	It("stops waiting for an idle partition after idle_timeout", func() {
		cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "events"))
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(cluster.Close)
		produceAt(cluster, 0, base, 0, 50)
		dir := GinkgoT().TempDir()
		s := startCep(dir, "run", "--config", partitionRun(dir, cluster.ListenAddrs()[0], "idle_timeout: 1s"))
		Eventually(func() int { return total(archiveCounts(dir)) }, "30s").Should(Equal(50),
			"partition 1 never delivers: after its idle timeout partition 0's events go on")
		s.Terminate()
		Eventually(s, "30s").Should(gexec.Exit(0))
	})
})
