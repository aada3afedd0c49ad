package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/runtime"
	"github.com/cep-project/cep/source"
)

// BenchmarkKafka times the filter scenario of cep bench (1000
// merchant-watch rules over card authorisations) and its sequence
// scenario (a then b then c within 10m over 100,000 keys) read from a
// topic of an in-process broker (kfake, reached over loopback TCP)
// through the Kafka source, against the same lines read from a file. The
// alerts of every run must equal the file's. Producing the topic is not
// timed; the broker serves fetches in the same process, so its work is in
// the figures.
//
//	go test -run '^$' -bench 'Kafka$' -benchtime 3x ./cmd/cep/
func BenchmarkKafka(b *testing.B) {
	for _, name := range []string{"filter", "sequence"} {
		p := benchParams{scenario: name, rules: 1000, events: 200000, keys: 100000, seed: 1, cpu: 1}
		var sc benchScenario
		if name == "sequence" {
			p.rules = 1
			sc = sequenceScenario(p)
		} else {
			sc = filterScenario(p)
		}
		b.Run("scenario="+name, func(b *testing.B) { benchKafka(b, p, sc) })
		sc.lines.remove()
	}
}

func benchKafka(b *testing.B, p benchParams, sc benchScenario) {
	if err := sc.lines.finish(); err != nil {
		b.Fatal(err)
	}
	rs := compileScenario(b, sc)
	stream := sc.streams[0]
	spec := source.Spec{Name: "bench", Stream: stream}
	spec.Decoder.Project = rules.Projection(rs, stream)
	// As cep run does: the decoders prepare the engine's filters and
	// screen out the events no rule can reach.
	spec.Prepare = &source.Preparation{}
	var want uint64
	run := func(b *testing.B, src source.Source) {
		b.Helper()
		var alerts uint64
		rt, err := runtime.New(runtime.Config{Mode: runtime.Replay, Rules: rs,
			Engine:  correlate.Config{Prepare: spec.Prepare.Store, Screen: spec.Prepare.StoreScreens},
			Sources: []source.Source{src}, Sink: &benchSink{onAlert: func(*alert.Alert) { alerts++ }}})
		if err != nil {
			b.Fatal(err)
		}
		res, err := rt.Run(context.Background())
		if err != nil || len(res.SourceErrors) > 0 {
			b.Fatal(err, res.SourceErrors)
		}
		if res.Stats.Events != uint64(p.events) || alerts == 0 || (want != 0 && alerts != want) {
			b.Fatalf("%d events, %d alerts (the file gave %d)", res.Stats.Events, alerts, want)
		}
		want = alerts
	}
	report := func(b *testing.B) {
		b.ReportMetric(float64(p.events)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		b.ReportMetric(0, "ns/op")
	}
	b.Run("source=file", func(b *testing.B) {
		for range b.N {
			s := spec
			s.Decoders = 1
			run(b, &source.File{Spec: s, Path: sc.lines.f.Name()})
		}
		report(b)
	})
	for _, parts := range []int{1, 4} {
		b.Run(fmt.Sprintf("source=kafka/partitions=%d", parts), func(b *testing.B) {
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(int32(parts), stream))
			if err != nil {
				b.Fatal(err)
			}
			defer cluster.Close()
			produceLines(b, cluster, stream, sc.lines.f.Name(), parts)
			b.ResetTimer()
			for range b.N {
				run(b, &source.Kafka{Spec: spec, Brokers: cluster.ListenAddrs(), Topics: []string{stream}, Bounded: true})
			}
			report(b)
		})
	}
}

// compileScenario compiles the scenario's rule files.
func compileScenario(b *testing.B, sc benchScenario) []*rules.Rule {
	b.Helper()
	c, err := rules.NewCompiler(rules.Options{})
	if err != nil {
		b.Fatal(err)
	}
	var rs []*rules.Rule
	for i, src := range sc.rules {
		r, errs := c.CompileFile(fmt.Sprintf("bench-%d.yaml", i), []byte(src))
		if r == nil {
			b.Fatal(errs)
		}
		rs = append(rs, r)
	}
	return rs
}

// produceLines writes a file's lines to a topic, spread over its
// partitions in runs, each partition in the file's order.
func produceLines(b *testing.B, cluster *kfake.Cluster, topic, path string, parts int) {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(1<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var recs []*kgo.Record
	for i := 0; sc.Scan(); i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i / 64 % parts), Value: append([]byte(nil), sc.Bytes()...)})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
}
