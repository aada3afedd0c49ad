package kafka

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/internal/secret"
	"github.com/cep-project/cep/sinks/siem"
	"github.com/cep-project/cep/sinks/siem/siemtest"
	"github.com/cep-project/cep/sinks/siem/sinktest"
	"github.com/cep-project/cep/sinks/siem/transport"
)

// TestKafka produces through kafka-go to kfake, an in-process broker
// speaking the Kafka protocol on loopback, and reads the topic back with
// franz-go: every alert once, keyed by rule and key, one key's alerts in
// order in one partition.
func TestKafka(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "alerts"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	c := siemtest.FastConfig("kafka", Kind, &Config{Brokers: cluster.ListenAddrs(), Topic: "alerts"})
	c.Timeout = 10 * time.Second
	s := siemtest.Start(t, siemtest.QuietOptions(), c)
	as := sinktest.Numbered(30)
	siemtest.SendAll(t, s, as)
	siemtest.Stop(t, s)

	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.ConsumeTopics("alerts"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	byKey := map[string][]string{}
	partitionOf := map[string]int32{}
	n := 0
	for n < len(as) {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("got %d of %d records: %v", n, len(as), err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			k := string(r.Key)
			if p, seen := partitionOf[k]; seen && p != r.Partition {
				t.Errorf("key %s in partitions %d and %d", k, p, r.Partition)
			}
			partitionOf[k] = r.Partition
			var id string
			for _, h := range r.Headers {
				if h.Key == "alert_id" {
					id = string(h.Value)
				}
			}
			byKey[k] = append(byKey[k], id)
		})
	}
	for i := range 3 {
		k := messageKey(as[i])
		var want []string
		for j := i; j < len(as); j += 3 {
			want = append(want, as[j].ID)
		}
		if !slices.Equal(byKey[k], want) {
			t.Errorf("key %s: got %v, want %v", k, byKey[k], want)
		}
	}
}

// messageKey is the key the sink gives an alert's messages: rule and key.
func messageKey(a *alert.Alert) string { return a.Rule + "|" + a.Key.String() }

// consume reads n records of topic from the cluster, with the client
// options given (SASL).
func consume(t *testing.T, addrs []string, n int, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...), kgo.ConsumeTopics("alerts"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("got %d of %d records: %v", len(out), n, err)
		}
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

// SASL/SCRAM with the password from the environment: the broker takes the
// alerts; with a wrong password it takes none and they are spooled.
func TestKafkaSASL(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "alerts"), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "cep", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	opts := siemtest.QuietOptions()
	opts.Secrets = secret.Resolver{
		LookupEnv: func(n string) (string, bool) {
			v, ok := map[string]string{"KAFKA_PASSWORD": "s3cret", "WRONG": "guess"}[n]
			return v, ok
		},
		ReadFile: os.ReadFile,
	}
	for _, pw := range []secret.Secret{"${env:WRONG}", "${env:KAFKA_PASSWORD}"} {
		c := siemtest.FastConfig("kafka", Kind, &Config{Brokers: cluster.ListenAddrs(), Topic: "alerts",
			SASL: &SASLConfig{Mechanism: "scram-sha-256", Username: "cep", Password: pw}})
		c.Timeout = 5 * time.Second
		s := siemtest.Start(t, opts, c)
		siemtest.SendAll(t, s, sinktest.Numbered(5))
		if pw == "${env:WRONG}" {
			sinktest.Eventually(t, 10*time.Second, "spooled: authentication fails", func() bool { return siemtest.Health(s).SpoolRecords == 5 })
			_ = s.Stop(context.Background())
			continue
		}
		siemtest.Stop(t, s)
	}
	got := consume(t, cluster.ListenAddrs(), 5, kgo.SASL(scram.Auth{User: "cep", Pass: "s3cret"}.AsSha256Mechanism()))
	if len(got) != 5 {
		t.Fatalf("%d records", len(got))
	}
}

// The message key is built from the masked alert: a masked card number
// appears nowhere in what the topic holds.
func TestKafkaMessageKeyIsMasked(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "alerts"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	c := siemtest.FastConfig("kafka", Kind, &Config{Brokers: cluster.ListenAddrs(), Topic: "alerts"})
	c.Timeout = 10 * time.Second
	c.Mask = []siem.MaskRule{{Field: "card"}}
	s := siemtest.Start(t, siemtest.QuietOptions(), c)
	a := sinktest.Numbered(1)[0]
	a.Key = alert.Key{{Expr: "event.card", Value: "4111111111111111"}}
	siemtest.SendAll(t, s, []*alert.Alert{a})
	siemtest.Stop(t, s)
	r := consume(t, cluster.ListenAddrs(), 1)[0]
	if strings.Contains(string(r.Key), "4111111111111111") || strings.Contains(string(r.Value), "4111111111111111") {
		t.Fatalf("key %q value %q", r.Key, r.Value)
	}
	if string(r.Key) != "r|event.card=************1111" {
		t.Fatalf("key %q", r.Key)
	}
}

// TestKafkaLargeBatchSetting: one send costs memory in proportion to its
// alerts, whatever batch.max_alerts says (kafka-go allocates a produce
// batch's room for BatchSize messages when it starts it: 152 MiB a
// partition with a million).
func TestKafkaLargeBatchSetting(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "alerts"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	env := transport.Env{Settings: transport.Settings{Name: "bus", Timeout: 10 * time.Second, BatchMaxAlerts: 1 << 20}}
	tr, err := newKafka(Config{Brokers: cluster.ListenAddrs(), Topic: "alerts"}, env)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	batch := make([]transport.Record, 300)
	for i := range batch {
		batch[i] = transport.Record{ID: fmt.Sprint("a", i), Key: fmt.Sprint("k", i), Body: []byte(`{"rule":"r"}`)}
	}
	if err := tr.Send(context.Background(), batch[:1]); err != nil { // connects
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := tr.Send(context.Background(), batch); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if got := after.TotalAlloc - before.TotalAlloc; got > 32<<20 {
		t.Errorf("a send of %d alerts allocated %d MiB", len(batch), got>>20)
	}
}
