package source

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/sasl/scram"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	kscram "github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/cep-project/cep/event"
)

// The Kafka source is tested against kfake, an in-process broker speaking
// the Kafka protocol on a loopback port, which kafka-go reaches over TCP
// as it would a real cluster.

const t0 = 1_800_000_000 // event times of the tests, in seconds

// broker starts a cluster with the topics (name -> partitions).
func broker(t testing.TB, topics map[string]int) *kfake.Cluster {
	t.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	for name, n := range topics {
		opts = append(opts, kfake.SeedTopics(int32(n), name))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// msg is a message to produce: a value to a partition, with a broker
// timestamp.
type msg struct {
	topic   string
	part    int32
	value   string
	at      time.Time
	headers []kgo.RecordHeader
}

// ev is an event message of id at second sec (after t0).
func ev(topic string, part int32, id string, sec int) msg {
	return msg{topic: topic, part: part, value: fmt.Sprintf(`{"id":%q,"ts":%d}`, id, t0+sec), at: time.Unix(t0+int64(sec), 0)}
}

func produce(t testing.TB, c *kfake.Cluster, msgs ...msg) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for _, m := range msgs {
		recs = append(recs, &kgo.Record{Topic: m.topic, Partition: m.part, Value: []byte(m.value), Timestamp: m.at, Headers: m.headers})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func kafkaSource(c *kfake.Cluster, topics ...string) *Kafka {
	return &Kafka{
		Spec:    Spec{Name: "k", Stream: "s", Decoders: 1},
		Brokers: c.ListenAddrs(), Topics: topics, Bounded: true,
		MaxWait: 50 * time.Millisecond,
	}
}

// readAll runs a bounded source to its end: the ids in the order
// delivered, the positions of the last batches by lane, and the end
// batch's error.
func readAll(t *testing.T, k *Kafka, from Positions) ([]string, Positions, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := make(chan Batch, 4)
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx, from, out) }()
	var ids []string
	pos := Positions{}
	for {
		select {
		case b := <-out:
			for _, e := range b.Events {
				ids = append(ids, e.ID)
			}
			for l, p := range b.Lanes {
				pos[l] = p
			}
			if b.End {
				<-done
				return ids, pos, b.Err
			}
		case <-ctx.Done():
			t.Fatalf("the source did not end; read %v", ids)
		}
	}
}

func offsets(t *testing.T, p Positions) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for l, b := range p {
		kp, err := decodeKafkaPos(b)
		if err != nil {
			t.Fatal(err)
		}
		out[l] = kp.off
	}
	return out
}

// TestKafkaMergesPartitionsInEventTime: partitions far apart in event
// time come out merged by time; a malformed message is counted with its
// partition and offset and skipped, and the positions end past every
// message.
func TestKafkaMergesPartitionsInEventTime(t *testing.T) {
	c := broker(t, map[string]int{"pay": 3})
	produce(t, c,
		ev("pay", 0, "a1", 600), ev("pay", 0, "a2", 601),
		ev("pay", 1, "b1", 1), msg{topic: "pay", part: 1, value: `{"id":"bad"`}, ev("pay", 1, "b2", 700),
		ev("pay", 2, "c1", 2), ev("pay", 2, "c2", 650),
	)
	k := kafkaSource(c, "pay")
	var bad []error
	k.OnMalformed = func(err error) { bad = append(bad, err) }
	ids, pos, err := readAll(t, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(ids, " "), "b1 c1 a1 a2 c2 b2"; got != want {
		t.Errorf("order %q, want %q", got, want)
	}
	if got := offsets(t, pos); got["pay/0"] != 2 || got["pay/1"] != 3 || got["pay/2"] != 2 {
		t.Errorf("positions %v", got)
	}
	if len(bad) != 1 || !strings.HasPrefix(bad[0].Error(), "pay/1:1: stream s:") || k.Counts().Malformed.Load() != 1 {
		t.Errorf("malformed %v (count %d), want one at pay/1 offset 1", bad, k.Counts().Malformed.Load())
	}
	if n := k.Counts().Events.Load(); n != 6 {
		t.Errorf("events counted %d", n)
	}
	if lag := k.Counts().Lag.Snapshot(); lag["pay/0"] != 0 || len(lag) != 3 {
		t.Errorf("lag at the end %v", lag)
	}
}

// TestKafkaStart: where partitions start — a checkpoint's position wins
// over the group's committed offset, which wins over start; start is
// earliest, latest or the offset of a time.
func TestKafkaStart(t *testing.T) {
	c := broker(t, map[string]int{"pay": 2})
	produce(t, c,
		ev("pay", 0, "a1", 10), ev("pay", 0, "a2", 20), ev("pay", 0, "a3", 30),
		ev("pay", 1, "b1", 15), ev("pay", 1, "b2", 25),
	)
	commit := func(group string, offs map[int]int64) {
		t.Helper()
		k := kafkaSource(c, "pay")
		k.Group = group
		req := &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{}}
		for p, o := range offs {
			req.Topics["pay"] = append(req.Topics["pay"], kafka.OffsetCommit{Partition: p, Offset: o})
		}
		cl := k.newClient()
		defer cl.Transport.(*kafka.Transport).CloseIdleConnections()
		if _, err := cl.OffsetCommit(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	commit("g1", map[int]int64{0: 2, 1: 1})
	at := func(lane string, off int64) Positions {
		return Positions{lane: kafkaPos{off: off, seq: 9}.encode()}
	}
	for _, tc := range []struct {
		name  string
		start string
		group string
		from  Positions
		want  string
	}{
		{name: "earliest", start: "earliest", want: "a1 b1 a2 b2 a3"},
		{name: "latest", start: "latest", want: ""},
		{name: "time", start: time.Unix(t0+18, 0).UTC().Format(time.RFC3339), want: "a2 b2 a3"},
		{name: "time past the end", start: time.Unix(t0+99, 0).UTC().Format(time.RFC3339), want: ""},
		{name: "group offsets", start: "latest", group: "g1", want: "b2 a3"},
		{name: "group without offsets", start: "earliest", group: "g-new", want: "a1 b1 a2 b2 a3"},
		{name: "checkpoint wins over the group", group: "g1", from: at("pay/0", 1), want: "a2 b2 a3"},
		{name: "checkpoint beside start", start: "latest", from: at("pay/1", 0), want: "b1 b2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := kafkaSource(c, "pay")
			k.Group = tc.group
			var err error
			if k.Start, err = ParseKafkaStart(tc.start); err != nil {
				t.Fatal(err)
			}
			ids, _, err := readAll(t, k, tc.from)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(ids, " "); got != tc.want {
				t.Errorf("read %q, want %q", got, tc.want)
			}
		})
	}
}

// TestKafkaSeqResumes: event numbers carry on from a checkpoint's.
func TestKafkaSeqResumes(t *testing.T) {
	c := broker(t, map[string]int{"pay": 1})
	produce(t, c, ev("pay", 0, "a1", 1), ev("pay", 0, "a2", 2))
	k := kafkaSource(c, "pay")
	out := make(chan Batch, 4)
	go func() { _ = k.Run(context.Background(), Positions{"pay/0": kafkaPos{off: 1, seq: 41}.encode()}, out) }()
	for b := range out {
		if len(b.Events) > 0 {
			if b.Events[0].ID != "a2" || b.Events[0].Seq != 42 {
				t.Fatalf("event %s seq %d, want a2 seq 42", b.Events[0].ID, b.Events[0].Seq)
			}
		}
		if b.End {
			break
		}
	}
}

// TestKafkaCommitsOnlyDurableOffsets: reading moves no offset of the
// group; Committed (a durable checkpoint) does, while the source runs
// and after it stopped.
func TestKafkaCommitsOnlyDurableOffsets(t *testing.T) {
	c := broker(t, map[string]int{"pay": 2})
	produce(t, c, ev("pay", 0, "a1", 1), ev("pay", 0, "a2", 2), ev("pay", 1, "b1", 3))
	k := kafkaSource(c, "pay")
	k.Group, k.Bounded, k.IdleTimeout = "g", false, 50*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan Batch, 16)
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx, nil, out) }()
	var ids []string
	var last Positions
	for len(ids) < 3 {
		b := <-out
		for _, e := range b.Events {
			ids = append(ids, e.ID)
		}
		last = b.Lanes
	}
	committed := func() map[string]int64 {
		t.Helper()
		cl := k.newClient()
		defer cl.Transport.(*kafka.Transport).CloseIdleConnections()
		m, err := k.committed(context.Background(), cl, map[string][]int{"pay": {0, 1}})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if got := committed(); len(got) != 0 {
		t.Fatalf("offsets committed before any checkpoint: %v", got)
	}
	k.Committed(Positions{"pay/0": kafkaPos{off: 1}.encode()})
	waitFor(t, func() bool { return committed()["pay/0"] == 1 }, "the first durable offset to be committed")
	cancel()
	<-done
	if last == nil {
		t.Fatal("no positions delivered")
	}
	// The last checkpoint of a graceful stop commits after the source
	// stopped.
	k.Committed(Positions{"pay/0": kafkaPos{off: 2}.encode(), "pay/1": kafkaPos{off: 1}.encode()})
	if got := committed(); got["pay/0"] != 2 || got["pay/1"] != 1 {
		t.Fatalf("offsets after the stop %v", got)
	}
	// A new run of the group without a checkpoint starts at them.
	produce(t, c, ev("pay", 1, "b2", 4))
	k2 := kafkaSource(c, "pay")
	k2.Group = "g"
	if ids, _, err := readAll(t, k2, nil); err != nil || strings.Join(ids, " ") != "b2" {
		t.Fatalf("after the group's offsets read %v, %v", ids, err)
	}
}

func waitFor(t *testing.T, ok func() bool, what string) {
	t.Helper()
	for range 200 {
		if ok() {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	t.Fatalf("gave up waiting for %s", what)
}

// TestKafkaIdlePartition: a live source over a partition that never
// delivers releases the other's events once the idle timeout has passed.
func TestKafkaIdlePartition(t *testing.T) {
	c := broker(t, map[string]int{"pay": 2})
	produce(t, c, ev("pay", 0, "a1", 1), ev("pay", 0, "a2", 2))
	k := kafkaSource(c, "pay")
	k.Bounded, k.IdleTimeout = false, 200*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan Batch, 4)
	go func() { _ = k.Run(ctx, nil, out) }()
	var ids []string
	for len(ids) < 2 {
		select {
		case b := <-out:
			for _, e := range b.Events {
				ids = append(ids, e.ID)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("the idle partition held the other back: %v", ids)
		}
	}
	if !slices.Equal(ids, []string{"a1", "a2"}) {
		t.Fatalf("read %v", ids)
	}
}

// TestKafkaMissingTopic: a topic that does not exist ends the source with
// an error naming it.
func TestKafkaMissingTopic(t *testing.T) {
	c := broker(t, map[string]int{"pay": 1})
	k := kafkaSource(c, "nope")
	_, _, err := readAll(t, k, nil)
	if err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("error %v, want one naming the topic", err)
	}
}

func TestParseKafkaStart(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "", want: "earliest"},
		{in: "latest", want: "latest"},
		{in: "2026-11-01T00:00:00Z", want: "2026-11-01T00:00:00Z"},
		{in: "yesterday", err: "not earliest, latest or an RFC 3339 time"},
	} {
		s, err := ParseKafkaStart(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || s.String() != tc.want {
			t.Errorf("%q: %v %v, want %s", tc.in, s, err, tc.want)
		}
	}
}

func TestKafkaPosRoundTrip(t *testing.T) {
	p := kafkaPos{off: 123456789, seq: 42}
	got, err := decodeKafkaPos(p.encode())
	if err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("%v %v", got, err)
	}
	if v := p.encode()[0]; v != kafkaPosVersion {
		t.Errorf("a position without marks is written in version %d, want %d (what older cep reads)", v, kafkaPosVersion)
	}
	marked := kafkaPos{off: 7, seq: 3, marks: map[string]int64{"pay/0": 12, "pay/3": 0}}
	if got, err := decodeKafkaPos(marked.encode()); err != nil || !reflect.DeepEqual(got, marked) {
		t.Fatalf("%v %v, want %v", got, err, marked)
	}
	for _, b := range [][]byte{nil, {9}, append(p.encode(), 0)} {
		if _, err := decodeKafkaPos(b); err == nil {
			t.Errorf("%v decoded", b)
		}
	}
	if _, err := decodeKafkaPos([]byte{1, 1, 0}); err == nil {
		t.Errorf("negative offset accepted")
	}
}

func FuzzDecodeKafkaPos(f *testing.F) {
	f.Add(kafkaPos{off: 7, seq: 3}.encode())
	f.Add(kafkaPos{off: 7, seq: 3, marks: map[string]int64{"a/1": 4}}.encode())
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodeKafkaPos(b)
		if err != nil {
			return
		}
		q, err := decodeKafkaPos(p.encode())
		if err != nil || !reflect.DeepEqual(q, p) {
			t.Fatalf("%v does not round-trip: %v %v", p, q, err)
		}
	})
}

// TestKafkaLostToRetention: messages the broker deleted before cep read
// them are counted as lost, and reading goes on at the first one left.
func TestKafkaLostToRetention(t *testing.T) {
	c := broker(t, map[string]int{"pay": 1})
	produce(t, c, ev("pay", 0, "a0", 0), ev("pay", 0, "a1", 1), ev("pay", 0, "a2", 2), ev("pay", 0, "a3", 3), ev("pay", 0, "a4", 4))
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrDeleteRecordsRequest()
	rt := kmsg.NewDeleteRecordsRequestTopic()
	rt.Topic = "pay"
	rp := kmsg.NewDeleteRecordsRequestTopicPartition()
	rp.Partition, rp.Offset = 0, 3
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	res, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := res.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("delete records: error code %d", code)
	}
	k := kafkaSource(c, "pay")
	ids, _, err := readAll(t, k, Positions{"pay/0": kafkaPos{off: 1, seq: 1}.encode()})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, " ") != "a3 a4" || k.Counts().Lost.Load() != 2 {
		t.Fatalf("read %v, lost %d; want a3 a4 and 2 lost", ids, k.Counts().Lost.Load())
	}
}

// TestKafkaWaitsForBroker: a broker that does not answer at start is
// waited for; reading begins once it does.
func TestKafkaWaitsForBroker(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	k := &Kafka{Spec: Spec{Name: "k", Stream: "s"}, Brokers: []string{addr}, Topics: []string{"pay"}, Bounded: true, MaxWait: 50 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out := make(chan Batch, 4)
	go func() { _ = k.Run(ctx, nil, out) }()
	time.Sleep(300 * time.Millisecond)
	select {
	case b := <-out:
		t.Fatalf("the source ended while the broker was down: %v", b.Err)
	default:
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "pay"), kfake.Ports(portOf(t, addr)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	produce(t, c, ev("pay", 0, "a1", 1))
	var ids []string
	for {
		select {
		case b := <-out:
			for _, e := range b.Events {
				ids = append(ids, e.ID)
			}
			if b.End {
				if b.Err != nil || strings.Join(ids, " ") != "a1" {
					t.Fatalf("read %v, %v", ids, b.Err)
				}
				return
			}
		case <-ctx.Done():
			t.Fatal("the source did not start once the broker answered")
		}
	}
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestKafkaPositionsOfQuietPartitions: the first batch holds every
// partition's start, so a partition that delivered nothing before a
// restart resumes where it was, not at start: latest.
func TestKafkaPositionsOfQuietPartitions(t *testing.T) {
	c := broker(t, map[string]int{"pay": 2})
	produce(t, c, ev("pay", 0, "a1", 1))
	k := kafkaSource(c, "pay")
	k.Start, _ = ParseKafkaStart("latest")
	_, pos, err := readAll(t, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := offsets(t, pos); len(got) != 2 || got["pay/0"] != 1 || got["pay/1"] != 0 {
		t.Fatalf("positions %v, want both partitions", got)
	}
	produce(t, c, ev("pay", 1, "b1", 2))
	k2 := kafkaSource(c, "pay")
	k2.Start = k.Start
	ids, _, err := readAll(t, k2, pos)
	if err != nil || strings.Join(ids, " ") != "b1" {
		t.Fatalf("after a restart read %v, %v; want b1", ids, err)
	}
}

// TestKafkaSASL: a broker that requires SCRAM is read with the source's
// mechanism; with a wrong password the source does not read, and says
// why.
func TestKafkaSASL(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "pay"), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "cep", "s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.SASL(kscram.Auth{User: "cep", Pass: "s3cret"}.AsSha256Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "pay", Value: []byte(fmt.Sprintf(`{"id":"a1","ts":%d}`, t0))}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	mech, err := scram.Mechanism(scram.SHA256, "cep", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	k := kafkaSource(c, "pay")
	k.SASL = mech
	if ids, _, err := readAll(t, k, nil); err != nil || strings.Join(ids, " ") != "a1" {
		t.Fatalf("read %v, %v", ids, err)
	}

	wrong, _ := scram.Mechanism(scram.SHA256, "cep", "guess")
	logged := &syncWriter{w: &strings.Builder{}}
	k = kafkaSource(c, "pay")
	k.SASL, k.Log = wrong, slog.New(slog.NewTextHandler(logged, nil))
	ctx, cancel := context.WithCancel(context.Background())
	out := make(chan Batch, 1)
	done := make(chan error, 1)
	go func() { done <- k.Run(ctx, nil, out) }()
	waitFor(t, func() bool { return strings.Contains(logged.String(), "cannot start reading") }, "the authentication failure to be logged")
	cancel()
	<-done
	if len(out) != 0 {
		t.Fatal("read with a wrong password")
	}
}

// syncWriter lets a test read a log that goroutines write.
type syncWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.String()
}

// TestKafkaTransactionMarkers: a transactional producer's commit markers
// take offsets that are not messages; the source passes them, so a
// bounded read ends and a partition ending in a marker is not fetched at
// it for ever.
func TestKafkaTransactionMarkers(t *testing.T) {
	c := broker(t, map[string]int{"pay": 1})
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.TransactionalID("cep-test"), kgo.DefaultProduceTopic("pay"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	for i := range 2 {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf(`{"id":"a%d","ts":%d}`, i, t0+i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
	}
	k := kafkaSource(c, "pay")
	ids, pos, err := readAll(t, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, " ") != "a0 a1" || k.Counts().Malformed.Load() != 0 {
		t.Fatalf("read %v, %d malformed", ids, k.Counts().Malformed.Load())
	}
	if got := offsets(t, pos); got["pay/0"] != 4 {
		t.Fatalf("position %v, want 4: past both markers", got)
	}
}

// produceCopies writes copies of origin's offsets into topic rep, as a
// re-keying source does: each names the partition and offset it copies.
func produceCopies(t *testing.T, c *kfake.Cluster, origin string, offs ...int) {
	t.Helper()
	var msgs []msg
	for _, off := range offs {
		msgs = append(msgs, msg{topic: "rep", value: fmt.Sprintf(`{"id":"%s@%d","ts":%d}`, origin, off, t0+off),
			headers: []kgo.RecordHeader{{Key: headerOrigin, Value: []byte(origin)}, {Key: headerFrom, Value: fmt.Append(nil, off)}}})
	}
	produce(t, c, msgs...)
}

// TestKafkaDedupSkipsCopiesWrittenTwice: a copier that restarts from its
// checkpoint writes some copies again; the reader skips each copy of an
// offset it has read, also after a restart from its own positions.
func TestKafkaDedupSkipsCopiesWrittenTwice(t *testing.T) {
	c := broker(t, map[string]int{"rep": 1})
	produceCopies(t, c, "pay/0", 0, 1, 2, 3, 4)
	produceCopies(t, c, "pay/1", 0, 1)
	produceCopies(t, c, "pay/0", 2, 3, 4, 5) // pay/0 restarted at 2
	k := kafkaSource(c, "rep")
	k.Dedup = true
	ids, pos, err := readAll(t, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"pay/0@0", "pay/0@1", "pay/0@2", "pay/0@3", "pay/0@4", "pay/1@0", "pay/1@1", "pay/0@5"}
	if !slices.Equal(ids, want) {
		t.Errorf("read %v, want %v", ids, want)
	}
	if n := k.Counts().Duplicates.Load(); n != 3 {
		t.Errorf("%d copies skipped, want 3", n)
	}
	p, err := decodeKafkaPos(pos["rep/0"])
	if err != nil || !reflect.DeepEqual(p.marks, map[string]int64{"pay/0": 5, "pay/1": 1}) {
		t.Fatalf("position %+v %v: want the last copy of each origin", p, err)
	}

	// A restart from the positions skips what the copier writes again.
	produceCopies(t, c, "pay/1", 1, 2)
	k2 := kafkaSource(c, "rep")
	k2.Dedup = true
	ids, _, err = readAll(t, k2, pos)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []string{"pay/1@2"}) {
		t.Errorf("after the restart read %v, want only pay/1@2", ids)
	}
}

// TestKafkaPreparesWhileTheConsumerWaits: a Kafka source's decoders run
// the spec's preparation, one function per partition's decoder, while
// batches wait for the consumer.
func TestKafkaPreparesWhileTheConsumerWaits(t *testing.T) {
	c := broker(t, map[string]int{"pay": 2})
	wave := func(from int) {
		var msgs []msg
		for i := from; i < from+2000; i++ {
			msgs = append(msgs, ev("pay", int32(i%2), fmt.Sprintf("e%d", i), i))
		}
		produce(t, c, msgs...)
	}
	wave(0)
	prep := &Preparation{}
	var makers atomic.Int32
	prep.Store(func() func([]*event.Event) {
		makers.Add(1)
		return func(evs []*event.Event) {
			for _, ev := range evs {
				ev.Prepared = &event.Prepared{By: 7}
			}
		}
	})
	k := kafkaSource(c, "pay")
	k.Bounded, k.IdleTimeout = false, 100*time.Millisecond
	k.Spec.Prepare = prep
	out := make(chan Batch, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() { _ = k.Run(ctx, nil, out) }()
	// The first wave fills out and waits there, as batches do for a slow
	// consumer; the second is decoded meanwhile.
	for len(out) < cap(out) && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	wave(2000)
	time.Sleep(300 * time.Millisecond)
	prepared, seen := 0, 0
	for done := false; !done; {
		b := <-out
		for _, e := range b.Events {
			seen++
			if p := e.Prepared; p != nil {
				if p.By != 7 {
					t.Fatalf("event %s prepared as %+v", e.ID, p)
				}
				prepared++
			}
		}
		done = seen >= 4000
	}
	if seen != 4000 || prepared == 0 {
		t.Errorf("%d events, %d prepared: want 4000, some prepared", seen, prepared)
	}
	if m := makers.Load(); m != 2 {
		t.Errorf("%d preparation functions made, want one per partition", m)
	}
}

// TestKafkaRekeyWritesEveryCopyInOrder: a source with Rekey writes one
// copy of every event, keyed as asked, each partition's copies in the
// order of their origin offsets (what Dedup relies on), also when a
// fetched batch is larger than a broker takes in one message batch.
func TestKafkaRekeyWritesEveryCopyInOrder(t *testing.T) {
	c := broker(t, map[string]int{"pay": 1, "rep": 1})
	const n = 30000
	var msgs []msg
	pad := strings.Repeat("x", 60)
	for i := range n {
		msgs = append(msgs, msg{topic: "pay", value: fmt.Sprintf(`{"id":"e%d","ts":%d,"user":"u%d","pad":%q}`, i, t0+i, i%97, pad)})
	}
	produce(t, c, msgs...)
	k := kafkaSource(c, "pay")
	// A writer that would send a fetched batch's copies as one produce
	// batch, larger than the broker takes: the source's chunks keep each
	// under it.
	k.Writer = NewRekeyWriter(kafka.TCP(c.ListenAddrs()...), nil)
	k.Writer.BatchBytes = 64 << 20
	defer k.Writer.Close()
	k.Rekey = []Rekey{{Topic: "rep", Key: func(ev *event.Event) ([]byte, bool) {
		v, ok := ev.Get("user")
		return []byte(v.Str()), ok
	}}}
	if _, _, err := readAll(t, k, nil); err != nil {
		t.Fatal(err)
	}
	if got := k.Counts().Rekeyed.Load(); got != n {
		t.Fatalf("%d copies written, want %d", got, n)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics("rep"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	last := map[int32]int64{}
	seen := 0
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for seen < n && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			origin, from := copyOrigin(toHeaders(r.Headers))
			if origin != "pay/0" {
				t.Fatalf("copy with origin %q", origin)
			}
			if prev, ok := last[r.Partition]; ok && from <= prev {
				t.Fatalf("partition %d: copy of offset %d after %d", r.Partition, from, prev)
			}
			last[r.Partition] = from
			seen++
		})
	}
	if seen != n {
		t.Fatalf("read %d copies, want %d", seen, n)
	}
}

// TestKafkaRekeyMemory: writing the copies costs memory in proportion to
// them. kafka-go gives each batch room for the writer's BatchSize
// messages when it starts it, so a writer whose count limit is far above
// rekey's chunks allocated 152 MiB a partition a chunk: this run
// allocated 321 KB a copy then, 3.7 KB now, most of it the broker's.
func TestKafkaRekeyMemory(t *testing.T) {
	c := broker(t, map[string]int{"pay": 1, "rep": 6})
	const n = 6000
	var msgs []msg
	for i := range n {
		msgs = append(msgs, msg{topic: "pay", value: fmt.Sprintf(`{"id":"e%d","ts":%d,"user":"u%d"}`, i, t0+i, i%97)})
	}
	produce(t, c, msgs...)
	k := kafkaSource(c, "pay")
	k.Writer = NewRekeyWriter(kafka.TCP(c.ListenAddrs()...), nil)
	defer k.Writer.Close()
	k.Rekey = []Rekey{{Topic: "rep", Key: func(ev *event.Event) ([]byte, bool) {
		v, ok := ev.Get("user")
		return []byte(v.Str()), ok
	}}}
	var err error
	allocated := bytesAllocated(func() { _, _, err = readAll(t, k, nil) })
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Counts().Rekeyed.Load(); got != n {
		t.Fatalf("%d copies written, want %d", got, n)
	}
	// The broker runs in this process: its share is in the figure too.
	if per := allocated / n; per > 32<<10 {
		t.Errorf("%d bytes allocated a copy, want at most 32 KiB", per)
	}
}

// TestKafkaLargeFetches: a broker may answer a fetch with more than it
// asked for (kfake sends a partition's record batches whole, 4 MB for
// 1 MiB); the source hands it on in batches of at most fetchBytes, every
// message once and in order, and recycles them, so that reading costs
// memory in proportion to the batches, not to the messages.
func TestKafkaLargeFetches(t *testing.T) {
	c := broker(t, map[string]int{"pay": 1})
	const n = 10000
	pad := strings.Repeat("x", 2000)
	msgs := make([]msg, n)
	for i := range msgs {
		msgs[i] = msg{topic: "pay", value: fmt.Sprintf(`{"id":"e%d","ts":%d,"pad":%q}`, i, t0+i, pad)}
	}
	produce(t, c, msgs...)
	var (
		ids []string
		pos Positions
		err error
	)
	allocated := bytesAllocated(func() { ids, pos, err = readAll(t, kafkaSource(c, "pay"), nil) })
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != n {
		t.Fatalf("%d events, want %d", len(ids), n)
	}
	for i, id := range ids {
		if id != fmt.Sprintf("e%d", i) {
			t.Fatalf("event %d is %s", i, id)
		}
	}
	if got := offsets(t, pos)["pay/0"]; got != n {
		t.Errorf("position %d, want %d", got, n)
	}
	// 2 KB lines: 6.6 KB allocated an event (the decoded copy, kafka-go's
	// pages, the broker's answer in this process), 17.9 KB when each
	// fetch's buffer grew from nothing to the answer's size.
	if per := allocated / n; per > 10_000 {
		t.Errorf("%d bytes allocated an event, want at most 10,000", per)
	}
}

// bytesAllocated is what the process allocated while f ran, the
// in-process broker's share included.
func bytesAllocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func toHeaders(hs []kgo.RecordHeader) []kafka.Header {
	out := make([]kafka.Header, len(hs))
	for i, h := range hs {
		out[i] = kafka.Header{Key: h.Key, Value: h.Value}
	}
	return out
}

// TestKafkaScreens: a Kafka source's decoders screen their messages with
// the Preparation's screens, and count what they turn away, but not when
// the source copies its events to repartition topics, whose keys read
// fields a screen may not decode.
func TestKafkaScreens(t *testing.T) {
	c := broker(t, map[string]int{"pay": 2, "rep": 1})
	var msgs []msg
	for i := range 1000 {
		m := ev("pay", int32(i%2), fmt.Sprintf("e%d", i), i)
		m.value = fmt.Sprintf(`{"id":"e%d","ts":%d,"k":"k%d","v":%d}`, i, t0+i, i%40, i)
		msgs = append(msgs, m)
	}
	produce(t, c, msgs...)
	prep := &Preparation{}
	prep.StoreScreens(func(string) *event.Screen {
		return &event.Screen{Project: event.NewProjection([][]string{{"k"}}), Pass: func(ev *event.Event) bool {
			k, _ := ev.Get("k")
			return k.Str() == "k0"
		}}
	})
	for _, rekey := range []bool{false, true} {
		t.Run(fmt.Sprintf("rekey=%v", rekey), func(t *testing.T) {
			k := kafkaSource(c, "pay")
			k.Spec.Prepare = prep
			k.Spec.Projection = NewProjection(event.NewProjection([][]string{{"k"}, {"v"}}))
			if rekey {
				k.Rekey = []Rekey{{Topic: "rep", Key: func(ev *event.Event) ([]byte, bool) {
					v, ok := ev.Get("k")
					return []byte(v.Str()), ok
				}}}
				k.Writer = NewRekeyWriter(kafka.TCP(c.ListenAddrs()...), nil)
				defer k.Writer.Close()
			}
			ids, _, err := readAll(t, k, nil)
			if err != nil || len(ids) != 1000 {
				t.Fatalf("%d events, %v", len(ids), err)
			}
			got, want := k.Counts().Screened.Load(), uint64(1000-1000/40)
			if rekey {
				want = 0
			}
			if got != want {
				t.Errorf("%d events screened out, want %d", got, want)
			}
		})
	}
}
