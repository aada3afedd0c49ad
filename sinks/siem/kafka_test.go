package siem

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
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
	c := fastConfig("kafka", TypeKafka)
	c.Timeout = 10 * time.Second
	c.Kafka = &KafkaConfig{Brokers: cluster.ListenAddrs(), Topic: "alerts"}
	s := startSink(t, c, quietOptions())
	as := numbered(30)
	sendAll(t, s, as)
	stopSink(t, s)

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
		k := alertKey(as[i])
		var want []string
		for j := i; j < len(as); j += 3 {
			want = append(want, as[j].ID)
		}
		if !slices.Equal(byKey[k], want) {
			t.Errorf("key %s: got %v, want %v", k, byKey[k], want)
		}
	}
}
