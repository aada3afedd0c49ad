package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/runtime"
	"github.com/cep-project/cep/source"
	"github.com/cep-project/cep/state/redistest"
)

// BenchmarkScaleOut times Kafka → cep → Kafka end to end through
// `cep run --config` with scale_out: the events are in a 4-partition topic
// of an in-process broker (kfake, over loopback TCP) before the clock
// starts; it stops when the alerts topic holds as many alerts as a replay
// of the same lines makes. The filter scenario is 1,000 merchant-watch
// rules; the sequence scenario (a then b then c within 10m, 100,000 keys)
// runs with the topic keyed by the rule's key and declared so (keyed_by),
// and with it undeclared, so that its events go through a repartition
// topic. One process, or two in one group (on the same two cores). The
// state is in a real redis-server.
//
//	go test -run '^$' -bench 'ScaleOut' -benchtime 1x ./cmd/cep/
func BenchmarkScaleOut(b *testing.B) {
	const events = 300000
	for _, c := range []struct {
		scenario string
		keyedBy  bool
	}{{"filter", true}, {"sequence", true}, {"sequence", false}} {
		p := benchParams{scenario: c.scenario, rules: 1000, events: events, keys: 100000, seed: 1, cpu: 1}
		var sc benchScenario
		key := "card_id"
		if c.scenario == "sequence" {
			p.rules, key = 1, "k"
			sc = sequenceScenario(p)
		} else {
			sc = filterScenario(p)
		}
		if err := sc.lines.finish(); err != nil {
			b.Fatal(err)
		}
		want := replayAlertCount(b, sc)
		b.Logf("%s: %d events, %d alerts", c.scenario, events, want)
		route := "keyed_by"
		if !c.keyedBy {
			route = "repartitioned"
		}
		for _, procs := range []int{1, 2} {
			b.Run(fmt.Sprintf("scenario=%s/%s/processes=%d", c.scenario, route, procs), func(b *testing.B) {
				for range b.N {
					scaleOutOnce(b, sc, key, c.keyedBy, procs, want)
				}
				b.ReportMetric(float64(events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
				b.ReportMetric(0, "ns/op")
			})
		}
		sc.lines.remove()
	}
}

// replayAlertCount counts the alerts of the scenario's lines read from their
// file.
func replayAlertCount(b *testing.B, sc benchScenario) int {
	b.Helper()
	var n int
	rt, err := runtime.New(runtime.Config{Mode: runtime.Replay, Rules: compileScenario(b, sc), Engine: correlate.Config{},
		Sources: []source.Source{&source.File{Spec: source.Spec{Name: "f", Stream: sc.streams[0]}, Path: sc.lines.f.Name()}},
		Sink:    &benchSink{onAlert: func(*alert.Alert) { n++ }}})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := rt.Run(context.Background()); err != nil {
		b.Fatal(err)
	}
	return n
}

// scaleOutOnce starts the processes on empty topics and, once the group
// is stable, times producing the events and processing them until every
// alert is in the alerts topic.
func scaleOutOnce(b *testing.B, sc benchScenario, key string, keyedBy bool, procs, want int) {
	b.StopTimer()
	stream := sc.streams[0]
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, stream, "alerts"))
	if err != nil {
		b.Fatal(err)
	}
	defer cluster.Close()
	recs := keyedRecords(b, stream, key, sc.lines.f.Name())
	srv := redistest.Start(b)
	dir := b.TempDir()
	for i, src := range sc.rules {
		if err := os.MkdirAll(filepath.Join(dir, "rules"), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "rules", fmt.Sprintf("r%d.yaml", i)), []byte(src), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	kb, lateness := "", "10m"
	if keyedBy {
		kb, lateness = ", keyed_by: [event."+key+"]", "5s"
	}
	broker := cluster.ListenAddrs()[0]
	cfg := filepath.Join(dir, "cep.yaml")
	// The events come faster than cep reads them, as in a catch-up: the
	// tasks run at their own speeds, so a repartition topic mixes event
	// times from far apart, which the allowed lateness must cover.
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `
rules: [rules]
engine: {allowed_lateness: %s, idle_timeout: 500ms}
scale_out: {group: bench, session_timeout: 6s}
state:
  interval: 10s
  redis: {addr: %q}
sources:
  - {type: kafka, brokers: [%q], topic: %s, idle_timeout: 500ms%s}
sinks:
  - {name: bus, type: kafka, kafka: {brokers: [%q], topic: alerts}}
`, lateness, srv.Addr(), broker, stream, kb, broker), 0o644); err != nil {
		b.Fatal(err)
	}
	client := &kafka.Client{Addr: kafka.TCP(broker)}
	alerts := func() int {
		res, err := client.ListOffsets(context.Background(), &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
			"alerts": {kafka.LastOffsetOf(0), kafka.LastOffsetOf(1), kafka.LastOffsetOf(2), kafka.LastOffsetOf(3)}}})
		if err != nil {
			return -1
		}
		n := 0
		for _, p := range res.Topics["alerts"] {
			n += int(p.LastOffset)
		}
		return n
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range procs {
		wg.Go(func() {
			a := &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, log: slog.New(slog.DiscardHandler)}
			if err := a.runConfig(ctx, runParams{config: cfg}); err != nil && ctx.Err() == nil {
				b.Error(err)
			}
		})
	}
	// The start (loading the rules, joining the group, the rebalance a
	// second process makes) is not timed: the group is stable and every
	// task reads before the first event is produced.
	for ready := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		res, err := client.DescribeGroups(context.Background(), &kafka.DescribeGroupsRequest{GroupIDs: []string{"bench"}})
		if err == nil && len(res.Groups) == 1 && res.Groups[0].GroupState == "Stable" && len(res.Groups[0].Members) == procs {
			break
		}
		if time.Now().After(ready) {
			b.Fatal("the group did not become stable")
		}
	}
	time.Sleep(2 * time.Second)
	b.StartTimer()
	t0 := time.Now()
	produce(b, cluster, recs)
	produced := time.Since(t0)
	deadline := time.Now().Add(3 * time.Minute)
	n := 0
	for n = alerts(); n < want && time.Now().Before(deadline); n = alerts() {
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(len(recs))/produced.Seconds(), "produced/s")
	cancel()
	wg.Wait()
	if n != want {
		b.Fatalf("the alerts topic holds %d alerts, a replay makes %d", n, want)
	}
}

// keyedRecords reads a file's lines as records keyed by a field, as a
// producer keying by entity would write them.
func keyedRecords(b *testing.B, topic, field, path string) []*kgo.Record {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var recs []*kgo.Record
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			b.Fatal(err)
		}
		k, _ := m[field].(string)
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(k), Value: append([]byte(nil), sc.Bytes()...)})
	}
	return recs
}

// produce writes the records with the Java client's partitioner (murmur2
// of the key), as most producers do.
func produce(b *testing.B, cluster *kfake.Cluster, recs []*kgo.Record) {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(1<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
}
