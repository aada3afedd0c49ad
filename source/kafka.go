package source

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	"github.com/segmentio/kafka-go/sasl"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/internal/wire"
)

// Kafka reads events from Kafka topics, one JSON event per message value.
// Messages are fetched, never auto-committed: the source's position is
// the next offset of every partition (a lane "topic/partition"), recorded
// in the runtime's checkpoints, and handed to the consumer group only once
// a checkpoint covering it is durable (Committed). A restart resumes from
// the checkpoint's offsets; a partition the checkpoint does not know
// starts at the group's committed offset, else where Start says.
// Partitions are merged in event-time order (see kafkamerge.go).
//
// Without Partitions, the process reads every partition of its topics:
// the group keeps offsets, it does not share partitions. With them (scale
// out, see package scaleout) it reads those partitions only, as the
// group's member Member says.
type Kafka struct {
	Spec    Spec
	Brokers []string
	Topics  []string
	// Group is the consumer group offsets are committed to; empty commits
	// none.
	Group string
	Start KafkaStart
	// Bounded ends the source at the end each partition had when it
	// started: a replay of what a topic holds.
	Bounded bool
	// IdleTimeout is how long a partition with no new messages holds
	// event time back; 0 means DefaultKafkaIdle, negative waits for ever.
	IdleTimeout time.Duration
	TLS         *tls.Config
	SASL        sasl.Mechanism
	// MaxWait bounds how long a fetch waits for messages; 0 means 500ms.
	MaxWait time.Duration
	Log     *slog.Logger
	// OnMalformed, when set, also receives every malformed message's
	// error.
	OnMalformed func(error)
	// Now is the wall clock that decides idle partitions; nil is
	// time.Now.
	Now func() time.Time
	// Partitions, when set, are the only partitions read, of every topic:
	// one task's share of co-partitioned topics. A topic without one of
	// them is an error.
	Partitions []int
	// Member, when set, commits offsets as this member of the group in
	// its generation, as a group with live members requires; otherwise a
	// commit is a simple (memberless) one.
	Member *GroupMember
	// NoCommit reads the group's offsets but commits none: a second
	// reader of partitions whose offsets another source commits.
	NoCommit bool
	// Rekey, when set, writes a copy of every decoded message to each
	// Rekey's topic, keyed as it says, through Writer, before the events
	// go on: the repartitioning of scale-out. A checkpoint covers only
	// events whose copies Kafka has acknowledged.
	Rekey  []Rekey
	Writer *kafka.Writer
	// Dedup reads a repartition topic: every copy names the partition and
	// offset it was copied from, and a copy of an offset already read
	// (written again by a copier that restarted from its checkpoint) is
	// skipped and counted. The last offset read from each partition is
	// part of the position, so that this holds across restarts too.
	Dedup bool

	counts Counters

	mu      sync.Mutex
	client  *kafka.Client
	running bool
	commits chan Positions
}

var errNoTopic = errors.New("no such topic, or it has no partitions")

// ForTask returns a source like k that reads only the given partitions of
// its topics and commits offsets as member m: one task's share.
func (k *Kafka) ForTask(partitions []int, m *GroupMember) *Kafka {
	return &Kafka{
		Spec: k.Spec, Brokers: k.Brokers, Topics: k.Topics, Group: k.Group, Start: k.Start,
		Bounded: k.Bounded, IdleTimeout: k.IdleTimeout, TLS: k.TLS, SASL: k.SASL, MaxWait: k.MaxWait,
		Log: k.Log, OnMalformed: k.OnMalformed, Now: k.Now,
		Partitions: slices.Clone(partitions), Member: m, NoCommit: k.NoCommit, Dedup: k.Dedup,
	}
}

// Rekey is a topic to write messages to under a new key.
type Rekey struct {
	Topic string
	// Key computes an event's new key; false leaves the event out (it
	// lacks the key's fields).
	Key func(*event.Event) ([]byte, bool)
}

// GroupMember is a consumer group member in one generation.
type GroupMember struct {
	Generation int32
	ID         string
}

// DefaultKafkaIdle is how long a silent partition holds event time back
// unless the configuration says otherwise.
const DefaultKafkaIdle = 10 * time.Second

// KafkaStartMode is where a partition without a checkpointed or committed
// offset starts.
type KafkaStartMode int

// The start modes.
const (
	StartEarliest KafkaStartMode = iota
	StartLatest
	StartAt
)

// KafkaStart is a start mode, with the time for StartAt.
type KafkaStart struct {
	Mode KafkaStartMode
	At   time.Time
}

// ParseKafkaStart reads earliest, latest or an RFC 3339 time; "" is
// earliest.
func ParseKafkaStart(s string) (KafkaStart, error) {
	switch s {
	case "", "earliest":
		return KafkaStart{Mode: StartEarliest}, nil
	case "latest":
		return KafkaStart{Mode: StartLatest}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return KafkaStart{}, fmt.Errorf("start %q is not earliest, latest or an RFC 3339 time such as 2026-11-01T00:00:00Z", s)
	}
	return KafkaStart{Mode: StartAt, At: t}, nil
}

func (s KafkaStart) String() string {
	switch s.Mode {
	case StartLatest:
		return "latest"
	case StartAt:
		return s.At.Format(time.RFC3339Nano)
	}
	return "earliest"
}

// Name implements Source.
func (k *Kafka) Name() string { return k.Spec.Name }

// Streams implements Source.
func (k *Kafka) Streams() []string { return []string{k.Spec.Stream} }

// Counts implements Source.
func (k *Kafka) Counts() *Counters { return &k.counts }

func (k *Kafka) log() *slog.Logger {
	if k.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return k.Log
}

func (k *Kafka) now() time.Time {
	if k.Now == nil {
		return time.Now()
	}
	return k.Now()
}

// kafkaPos is a partition's position: the next offset to read, and the
// source's event count when it was recorded. A repartition topic's
// partition adds, for every partition its copies come from, the offset of
// the last copy released (see Dedup).
type kafkaPos struct {
	off   int64
	seq   uint64
	marks map[string]int64
}

// Version 1 has no marks; version 2 has them.
const (
	kafkaPosVersion      = 1
	kafkaPosMarksVersion = 2
)

func (p kafkaPos) encode() []byte {
	v := byte(kafkaPosVersion)
	if len(p.marks) > 0 {
		v = kafkaPosMarksVersion
	}
	e := &wire.Enc{B: []byte{v}}
	e.Varint(p.off)
	e.Uvarint(p.seq)
	if v == kafkaPosMarksVersion {
		e.Uvarint(uint64(len(p.marks)))
		for _, origin := range slices.Sorted(maps.Keys(p.marks)) {
			e.Bytes([]byte(origin))
			e.Varint(p.marks[origin])
		}
	}
	return e.B
}

func decodeKafkaPos(b []byte) (kafkaPos, error) {
	d := &wire.Dec{B: b}
	v := d.Byte()
	if v != kafkaPosVersion && v != kafkaPosMarksVersion {
		return kafkaPos{}, fmt.Errorf("kafka position version %d; this cep reads versions %d and %d", v, kafkaPosVersion, kafkaPosMarksVersion)
	}
	p := kafkaPos{off: d.Varint(), seq: d.Uvarint()}
	if v == kafkaPosMarksVersion {
		n := d.Count(2)
		if n > 0 {
			p.marks = make(map[string]int64, n)
		}
		for range n {
			origin := string(d.Bytes())
			p.marks[origin] = d.Varint()
		}
	}
	if d.Err == nil && len(d.B) != 0 {
		d.Err = errors.New("bytes left over")
	}
	if d.Err != nil {
		return p, fmt.Errorf("kafka position: %w", d.Err)
	}
	if p.off < 0 {
		return p, errors.New("kafka position: negative offset")
	}
	return p, nil
}

// laneName names a partition's lane; topic names cannot hold a slash.
func laneName(topic string, partition int) string {
	return topic + "/" + strconv.Itoa(partition)
}

func parseLane(lane string) (string, int, error) {
	i := strings.LastIndexByte(lane, '/')
	if i < 0 {
		return "", 0, fmt.Errorf("lane %q is not topic/partition", lane)
	}
	p, err := strconv.Atoi(lane[i+1:])
	if err != nil {
		return "", 0, fmt.Errorf("lane %q is not topic/partition", lane)
	}
	return lane[:i], p, nil
}

// partition is one partition to read.
type partition struct {
	topic string
	id    int
	lane  string
	start int64
	// marks are the copies already read, by origin (Dedup).
	marks map[string]int64
	// end is where a bounded read stops; -1 reads on.
	end int64
}

func (k *Kafka) newClient() *kafka.Client {
	return &kafka.Client{
		Addr:      kafka.TCP(k.Brokers...),
		Timeout:   30 * time.Second,
		Transport: &kafka.Transport{TLS: k.TLS, SASL: k.SASL, ClientID: "cep"},
	}
}

// Run implements Source.
func (k *Kafka) Run(ctx context.Context, from Positions, out chan<- Batch) error {
	client := k.newClient()
	k.mu.Lock()
	k.client, k.running = client, true
	if k.commits == nil {
		k.commits = make(chan Positions, 1)
	}
	k.mu.Unlock()
	var wg sync.WaitGroup
	runCtx, cancel := context.WithCancel(ctx)
	defer func() {
		// From here on Committed commits at once; what it queued before is
		// committed now, so that the offsets of a checkpoint taken while
		// the source was stopping are not dropped.
		k.mu.Lock()
		k.running = false
		k.mu.Unlock()
		cancel()
		wg.Wait()
		select {
		case p := <-k.commits:
			cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
			k.commit(cctx, client, p)
			ccancel()
		default:
		}
		client.Transport.(*kafka.Transport).CloseIdleConnections()
	}()
	if k.Group != "" && !k.NoCommit {
		wg.Go(func() { k.commitLoop(runCtx, client) })
	}
	k.counts.Starting.Store(true)
	parts, seq, err := k.plan(runCtx, client, from)
	for backoff := 500 * time.Millisecond; err != nil && !errors.Is(err, errNoTopic) && runCtx.Err() == nil; backoff = min(2*backoff, 10*time.Second) {
		// A broker that does not answer yet is waited for, as a fetch
		// that fails is retried; a topic that does not exist is an error.
		k.log().Warn("kafka: cannot start reading: retrying", "source", k.Name(), "error", err, "retry_in", backoff.String())
		select {
		case <-runCtx.Done():
		case <-time.After(backoff):
			parts, seq, err = k.plan(runCtx, client, from)
		}
	}
	k.counts.Starting.Store(false)
	if err == nil {
		err = k.read(runCtx, client, parts, seq, out)
	}
	if err != nil && ctx.Err() == nil {
		err = fmt.Errorf("kafka source %s: %w", k.Name(), err)
		select {
		case out <- Batch{Source: k.Name(), End: true, Err: err}:
		case <-ctx.Done():
		}
		return err
	}
	return nil
}

// plan finds the partitions of the topics and where each starts: at the
// checkpoint's offset, else the group's committed one, else Start.
func (k *Kafka) plan(ctx context.Context, client *kafka.Client, from Positions) ([]*partition, uint64, error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: k.Topics})
	if err != nil {
		return nil, 0, fmt.Errorf("metadata of %s: %w", strings.Join(k.Topics, ", "), err)
	}
	var parts []*partition
	byTopic := map[string][]int{}
	for _, t := range md.Topics {
		if !slices.Contains(k.Topics, t.Name) {
			continue
		}
		if errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
			return nil, 0, fmt.Errorf("topic %s: %w", t.Name, errNoTopic)
		}
		if t.Error != nil {
			return nil, 0, fmt.Errorf("topic %s: %w", t.Name, t.Error)
		}
		for _, p := range t.Partitions {
			if k.Partitions == nil || slices.Contains(k.Partitions, p.ID) {
				byTopic[t.Name] = append(byTopic[t.Name], p.ID)
			}
		}
	}
	for _, t := range k.Topics {
		ids := byTopic[t]
		if len(ids) == 0 {
			return nil, 0, fmt.Errorf("topic %s: %w", t, errNoTopic)
		}
		if len(k.Partitions) > 0 && len(ids) != len(k.Partitions) {
			return nil, 0, fmt.Errorf("topic %s has partitions %v of the %v this task reads: topics read together must have the same partitions", t, ids, k.Partitions)
		}
		slices.Sort(ids)
		for _, id := range ids {
			parts = append(parts, &partition{topic: t, id: id, lane: laneName(t, id), start: -1, end: -1})
		}
	}
	var seq uint64
	for lane, b := range from {
		p, err := decodeKafkaPos(b)
		if err != nil {
			return nil, 0, fmt.Errorf("checkpoint of %s: %w", lane, err)
		}
		seq = max(seq, p.seq)
		i := slices.IndexFunc(parts, func(pt *partition) bool { return pt.lane == lane })
		if i < 0 {
			k.log().Warn("the checkpoint has a partition the topics no longer have: it is dropped", "source", k.Name(), "partition", lane)
			continue
		}
		parts[i].start, parts[i].marks = p.off, p.marks
	}
	var committed map[string]int64
	if k.Group != "" {
		if committed, err = k.committed(ctx, client, byTopic); err != nil {
			return nil, 0, err
		}
	}
	first, err := k.listOffsets(ctx, client, parts, kafka.FirstOffset)
	if err != nil {
		return nil, 0, err
	}
	last, err := k.listOffsets(ctx, client, parts, kafka.LastOffset)
	if err != nil {
		return nil, 0, err
	}
	var at map[string]int64
	for _, p := range parts {
		how := "checkpoint"
		switch {
		case p.start >= 0:
		case hasKey(committed, p.lane):
			p.start, how = committed[p.lane], "group"
		case k.Start.Mode == StartLatest:
			p.start, how = last[p.lane], "latest"
		case k.Start.Mode == StartAt:
			if at == nil {
				if at, err = k.listOffsets(ctx, client, parts, k.Start.At.UnixMilli()); err != nil {
					return nil, 0, err
				}
			}
			p.start, how = at[p.lane], "time"
			if p.start < 0 {
				// No message at or after the time yet.
				p.start = last[p.lane]
			}
		default:
			p.start, how = first[p.lane], "earliest"
		}
		if p.start < first[p.lane] {
			k.counts.Lost.Add(uint64(first[p.lane] - p.start))
			k.log().Error("messages between the position and the partition's first offset were deleted before cep read them: they are lost",
				"source", k.Name(), "partition", p.lane, "position", p.start, "first_offset", first[p.lane], "lost", first[p.lane]-p.start)
			p.start = first[p.lane]
		}
		if p.start > last[p.lane] {
			k.log().Warn("the position is past the partition's end (was the topic recreated?): reading from its end",
				"source", k.Name(), "partition", p.lane, "position", p.start, "end", last[p.lane])
			p.start = last[p.lane]
		}
		if k.Bounded {
			p.end = last[p.lane]
		}
		k.counts.Lag.Set(p.lane, last[p.lane]-p.start)
		k.log().Info("kafka partition", "source", k.Name(), "partition", p.lane, "offset", p.start, "from", how, "end", p.end)
	}
	return parts, seq, nil
}

func hasKey(m map[string]int64, k string) bool { _, ok := m[k]; return ok }

// committed returns the group's committed offsets; partitions without one
// are absent.
func (k *Kafka) committed(ctx context.Context, client *kafka.Client, byTopic map[string][]int) (map[string]int64, error) {
	res, err := client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: k.Group, Topics: byTopic})
	if err == nil {
		err = res.Error
	}
	if errors.Is(err, kafka.GroupIdNotFound) {
		// A group that never committed: some brokers say so instead of
		// answering with no offsets.
		return map[string]int64{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("committed offsets of group %s: %w", k.Group, err)
	}
	out := map[string]int64{}
	for t, ps := range res.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("committed offset of group %s, %s: %w", k.Group, laneName(t, p.Partition), p.Error)
			}
			if p.CommittedOffset >= 0 {
				out[laneName(t, p.Partition)] = p.CommittedOffset
			}
		}
	}
	return out, nil
}

// listOffsets asks for every partition's offset at ts (a time in
// milliseconds, or kafka.FirstOffset or kafka.LastOffset); -1 when no
// message is at or after the time.
func (k *Kafka) listOffsets(ctx context.Context, client *kafka.Client, parts []*partition, ts int64) (map[string]int64, error) {
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range parts {
		req.Topics[p.topic] = append(req.Topics[p.topic], kafka.OffsetRequest{Partition: p.id, Timestamp: ts})
	}
	res, err := client.ListOffsets(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("listing offsets: %w", err)
	}
	out := map[string]int64{}
	for t, ps := range res.Topics {
		for _, p := range ps {
			if p.Error != nil {
				return nil, fmt.Errorf("listing offsets of %s: %w", laneName(t, p.Partition), p.Error)
			}
			var off int64 = -1
			switch ts {
			case kafka.FirstOffset:
				off = p.FirstOffset
			case kafka.LastOffset:
				off = p.LastOffset
			default:
				for o := range p.Offsets {
					off = o
				}
			}
			out[laneName(t, p.Partition)] = off
		}
	}
	for _, p := range parts {
		if _, ok := out[p.lane]; !ok {
			return nil, fmt.Errorf("listing offsets: no answer for %s", p.lane)
		}
	}
	return out, nil
}

// readAhead is how many fetched batches one partition may hold waiting
// for the merge: what bounds memory when partitions are far apart in
// event time.
const readAhead = 4

// fetchBytes is the most one fetch of a partition asks the broker for:
// a fetch is a round trip, so it asks for more than a file's chunk holds.
const fetchBytes = 1 << 20

// read fetches every partition on its own goroutine and merges them.
func (k *Kafka) read(ctx context.Context, client *kafka.Client, parts []*partition, seq uint64, out chan<- Batch) error {
	idle := k.IdleTimeout
	switch {
	case idle == 0:
		idle = DefaultKafkaIdle
	case idle < 0:
		idle = 0
	}
	now := k.now()
	m := newLaneMerge(idle)
	in := make(chan *partBatch, len(parts))
	errs := make(chan error, len(parts))
	var wg sync.WaitGroup
	defer wg.Wait()
	fetchCtx, stop := context.WithCancel(ctx)
	defer stop()
	for _, p := range parts {
		room := make(chan struct{}, readAhead)
		for range readAhead {
			room <- struct{}{}
		}
		m.addLane(p.lane, now, func() { room <- struct{}{} })
		if len(p.marks) > 0 {
			m.marks[p.lane] = maps.Clone(p.marks)
		}
		// Every partition's start goes into the first batch's positions,
		// so that a checkpoint holds where each partition was read from
		// even before it delivers: a restart must not start a quiet
		// partition anew at start: latest and skip what came meanwhile.
		m.pos[p.lane] = p.start
		if p.end >= 0 && p.start >= p.end {
			<-room
			m.add(&partBatch{lane: p.lane, next: p.start, done: true}, now)
			continue
		}
		raws := make(chan *rawBatch, 2)
		free := make(chan *rawBatch, 3)
		wg.Go(func() {
			if err := k.fetch(fetchCtx, client, p, raws, free); err != nil && fetchCtx.Err() == nil {
				errs <- err
			}
		})
		// Preparing pays only while the consumer is the slower side (see
		// Preparation): while batches wait for it.
		busy := func() bool { return cap(out) > 0 && len(out) == cap(out) }
		wg.Go(func() { k.decodeLoop(fetchCtx, p, raws, free, room, in, busy) })
	}
	cur := Batch{Source: k.Name()}
	send := func(end bool) bool {
		if pos := m.take(); pos != nil {
			cur.Lanes = make(Positions, len(pos))
			for lane, off := range pos {
				cur.Lanes[lane] = kafkaPos{off: off, seq: seq, marks: m.marks[lane]}.encode()
			}
		}
		if len(cur.Events) == 0 && cur.Lanes == nil && !end {
			return true
		}
		cur.End = end
		k.counts.Events.Add(uint64(len(cur.Events)))
		select {
		case out <- cur:
		case <-ctx.Done():
			return false
		}
		cur = Batch{Source: k.Name()}
		return true
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		ev, ok, wait := m.next(k.now())
		if ok {
			seq++
			ev.Seq = seq
			cur.Events = append(cur.Events, ev)
			if len(cur.Events) >= batchEvents {
				if !send(false) {
					return nil
				}
			}
			continue
		}
		if m.allDone() {
			send(true)
			return nil
		}
		if !send(false) {
			return nil
		}
		var tick <-chan time.Time
		if !wait.IsZero() {
			timer.Reset(max(wait.Sub(k.now()), time.Millisecond))
			tick = timer.C
		}
		select {
		case b := <-in:
			m.add(b, k.now())
		case <-tick:
		case err := <-errs:
			return err
		case <-ctx.Done():
			return nil
		}
	}
}

// rawBatch is one fetch's messages, not yet decoded: their values in
// buf, and the offset after the last message it covered.
type rawBatch struct {
	buf  []byte
	msgs []rawMsg
	next int64
	done bool
}

// newRawBatch is an empty batch from next on, recycled from free when one
// is there: the decoder gives each batch back once it is done with it.
func newRawBatch(free chan *rawBatch, next int64) *rawBatch {
	select {
	case b := <-free:
		b.buf, b.msgs, b.next, b.done = b.buf[:0], b.msgs[:0], next, false
		return b
	default:
		return &rawBatch{buf: make([]byte, 0, fetchBytes), next: next}
	}
}

// rawMsg is one message of a rawBatch; a value too long to decode (or
// none) has no bytes.
type rawMsg struct {
	start, end int
	off        int64
	tooLong    bool
	empty      bool
	// origin and from are where a copy (Dedup) was copied from.
	origin string
	from   int64
}

// fetch reads one partition from p.start and hands what each fetch
// returned to the partition's decoder, so that the next fetch overlaps
// the decoding of the last, in batches of at most fetchBytes: a broker
// may answer with more than a fetch asks for (kfake sent 4 MB for 1 MiB),
// and batches of one size are recycled whole. It closes raws when it
// returns.
func (k *Kafka) fetch(ctx context.Context, client *kafka.Client, p *partition, raws chan<- *rawBatch, free chan *rawBatch) error {
	defer close(raws)
	limits := k.Spec.Decoder
	maxLine := limits.MaxLineSize()
	maxWait := k.MaxWait
	if maxWait <= 0 {
		maxWait = 500 * time.Millisecond
	}
	send := func(b *rawBatch) bool {
		select {
		case raws <- b:
			return true
		case <-ctx.Done():
			return false
		}
	}
	off := p.start
	backoff := 100 * time.Millisecond
	for {
		if p.end >= 0 && off >= p.end {
			send(&rawBatch{next: off, done: true})
			return nil
		}
		res, err := client.Fetch(ctx, &kafka.FetchRequest{Topic: p.topic, Partition: p.id, Offset: off, MinBytes: 1, MaxBytes: fetchBytes, MaxWait: maxWait})
		if err == nil && res.Error != nil {
			err = res.Error
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, kafka.OffsetOutOfRange) {
				next, rerr := k.outOfRange(ctx, client, p, off)
				if rerr == nil {
					off = next
					continue
				}
				err = rerr
			}
			k.log().Warn("kafka fetch failed: retrying", "source", k.Name(), "partition", p.lane, "offset", off, "error", err, "retry_in", backoff.String())
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		from := off
		b := newRawBatch(free, off)
		for {
			rec, err := res.Records.ReadRecord()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					k.log().Warn("kafka fetch: reading records failed: fetching again", "source", k.Name(), "partition", p.lane, "offset", b.next, "error", err)
				}
				break
			}
			if rec.Offset < off {
				// A compressed batch may start before the offset asked for.
				continue
			}
			if p.end >= 0 && rec.Offset >= p.end {
				break
			}
			b.next = rec.Offset + 1
			m := rawMsg{start: len(b.buf), end: len(b.buf), off: rec.Offset}
			if k.Dedup {
				m.origin, m.from = copyOrigin(rec.Headers)
			}
			switch {
			case rec.Value == nil:
				m.empty = true
			case rec.Value.Len() > maxLine:
				m.tooLong = true
				k.counts.Bytes.Add(uint64(rec.Value.Len()))
			default:
				n := rec.Value.Len()
				if len(b.buf) > 0 && len(b.buf)+n > fetchBytes {
					// The batch is full: what it holds goes on, and the
					// message starts the next.
					b.next = rec.Offset
					if !send(b) {
						return nil
					}
					b = newRawBatch(free, rec.Offset+1)
					m.start, m.end = 0, 0
				}
				b.buf = slices.Grow(b.buf, n)[:len(b.buf)+n]
				if _, err := io.ReadFull(rec.Value, b.buf[m.start:]); err != nil {
					b.buf = b.buf[:m.start]
					m.empty = true
				}
				m.end = len(b.buf)
			}
			b.msgs = append(b.msgs, m)
		}
		b.next = max(b.next, controlEnd(res.Records, from, p.end))
		off = b.next
		k.counts.Lag.Set(p.lane, max(res.HighWatermark-off, 0))
		b.done = p.end >= 0 && off >= p.end
		if off == from && !b.done {
			// Nothing new within the fetch's wait.
			select {
			case free <- b:
			default:
			}
			continue
		}
		if !send(b) || b.done {
			return nil
		}
	}
}

// The headers of a copy written to a repartition topic: the partition
// ("topic/N") and offset of the message it copies.
const (
	headerOrigin = "cep-origin"
	headerFrom   = "cep-offset"
)

// copyOrigin reads a copy's headers; "" when the message is not a copy.
func copyOrigin(hs []kafka.Header) (string, int64) {
	var origin string
	from := int64(-1)
	for _, h := range hs {
		switch h.Key {
		case headerOrigin:
			origin = string(h.Value)
		case headerFrom:
			if n, err := strconv.ParseInt(string(h.Value), 10, 64); err == nil {
				from = n
			}
		}
	}
	if origin == "" || from < 0 {
		return "", 0
	}
	return origin, from
}

// controlEnd is the offset after the last control record (a transaction's
// commit or abort marker) of a fetch at or after from (and before end,
// when end >= 0), or from when there is none. The records a fetch yields
// skip control batches, yet their offsets must be passed: a partition
// whose next offset is a marker would otherwise be fetched at it for
// ever.
func controlEnd(r kafka.RecordReader, from, end int64) int64 {
	next := from
	rs, ok := r.(*protocol.RecordStream)
	if !ok {
		return next
	}
	for _, sub := range rs.Records {
		cb, ok := sub.(*protocol.ControlBatch)
		if !ok {
			continue
		}
		for {
			rec, err := cb.ReadRecord()
			if err != nil {
				break
			}
			if rec.Offset >= from && (end < 0 || rec.Offset < end) {
				next = max(next, rec.Offset+1)
			}
		}
	}
	return next
}

// decodeLoop decodes a partition's fetched messages and hands them to the
// merge, each batch once a slot in room is free.
func (k *Kafka) decodeLoop(ctx context.Context, p *partition, raws <-chan *rawBatch, free chan *rawBatch, room chan struct{}, out chan<- *partBatch, busy func() bool) {
	r := NewReader(nil, k.Spec, k.Log)
	r.Counts = &k.counts
	dec := r.dec
	live := k.Spec.Projection
	var proj *event.Projection
	if live != nil {
		proj = live.Load()
		dec.SetProject(proj)
	}
	var copies []kafka.Message
	// read is, by origin, the last copy decoded (Dedup): what the
	// checkpoint says was released, then what this run has seen.
	read := maps.Clone(p.marks)
	if read == nil {
		read = map[string]int64{}
	}
	var (
		made     *func() func([]*event.Event)
		prepare  func([]*event.Event)
		screened *func(stream string) *event.Screen
		// screenedOut is what dec.Screened said last.
		screenedOut uint64
	)
	for raw := range raws {
		if live != nil {
			if cur := live.Load(); cur != proj {
				dec.SetProject(cur)
				proj = cur
			}
		}
		// A copy for another topic is keyed by fields the screen may
		// not decode, which its events would then decode in full.
		if cur := k.Spec.Prepare.loadScreens(); cur != screened && len(k.Rekey) == 0 {
			screened = screen(&dec, cur)
		}
		if cur := k.Spec.Prepare.load(); cur != made {
			made, prepare = cur, nil
			if cur != nil {
				prepare = (*cur)()
			}
		}
		prep := prepare
		if prep != nil && !busy() {
			prep = nil
		}
		copies = copies[:0]
		b := &partBatch{lane: p.lane, next: raw.next, done: raw.done}
		if n := len(raw.msgs); n > 0 {
			b.evs, b.offs = make([]*event.Event, 0, n), make([]int64, 0, n)
		}
		for _, m := range raw.msgs {
			if m.origin != "" {
				if last, ok := read[m.origin]; ok && m.from <= last {
					n := k.counts.Duplicates.Add(1)
					if n == 1 || n%1000 == 0 {
						k.log().Info("kafka: copies written twice skipped", "source", k.Name(), "partition", p.lane, "origin", m.origin, "offset", m.from, "skipped_so_far", n)
					}
					continue
				}
				read[m.origin] = m.from
			}
			k.counts.Lines.Add(1)
			k.counts.Bytes.Add(uint64(m.end - m.start))
			val := bytes.TrimSpace(raw.buf[m.start:m.end])
			var ev *event.Event
			var err error
			switch {
			case m.tooLong:
				err = errTooLong(r.maxLine)
			case m.empty || len(val) == 0:
				err = errors.New("the message has no value")
			default:
				ev, err = dec.Decode(val)
			}
			if err != nil {
				k.malformed(r, p, m.off, err)
				continue
			}
			b.evs = append(b.evs, ev)
			b.offs = append(b.offs, m.off)
			if k.Dedup {
				// One for every event, so that the merge finds an event's
				// by its index; a message that is not a copy has none.
				b.origins = append(b.origins, copyRef{origin: m.origin, from: m.from})
			}
			if len(k.Rekey) > 0 {
				from := []kafka.Header{{Key: headerOrigin, Value: []byte(p.lane)}, {Key: headerFrom, Value: strconv.AppendInt(nil, m.off, 10)}}
				for _, rk := range k.Rekey {
					if key, ok := rk.Key(ev); ok {
						copies = append(copies, kafka.Message{Topic: rk.Topic, Key: key, Value: val, Headers: from})
					}
				}
			}
		}
		screenedOut = countScreened(&dec, &k.counts, screenedOut)
		if prep != nil {
			prep(b.evs)
		}
		if len(copies) > 0 && k.rekey(ctx, p, copies) != nil {
			return
		}
		if cap(raw.buf) <= 2*fetchBytes {
			// Its copies are written and its lines decoded (Decode
			// copies them): the batch is free for the next fetch.
			select {
			case free <- raw:
			default:
			}
		}
		if k.handOver(ctx, room, out, b) != nil || b.done {
			return
		}
	}
}

// Copies are written in chunks small enough that the messages one chunk
// sends to one partition are one produce batch (the writer's limits, see
// NewRekeyWriter, are at least these): a batch is written whole or not at
// all, so retrying the messages that failed keeps each partition's copies
// in the order of their origin offsets, which the reader's Dedup relies
// on.
const (
	rekeyChunkBytes = 900 << 10
	// kafka-go gives every batch room for the writer's BatchSize
	// messages at once (152 bytes each), so the count is the writer's
	// too: a count of 1<<20 cost 152 MiB a partition a chunk, and the
	// scale-out processes of the specs peaked at 3.5 GB.
	rekeyChunkCount = 4096
	// rekeyBatchBytes is the writer's: the brokers' default largest
	// message (message.max.bytes) is 1 MiB.
	rekeyBatchBytes = 1 << 20
)

// NewRekeyWriter is the writer of a source's re-keyed copies (Writer):
// the partitioner of Kafka's Java client, which most producers use, so
// that a key lands where the producers of keyed topics put it; every
// replica's acknowledgement; and batches sized for rekey's chunks, sent
// when complete rather than after a linger, since copies are written a
// chunk at a time, synchronously.
func NewRekeyWriter(addr net.Addr, transport kafka.RoundTripper) *kafka.Writer {
	return &kafka.Writer{
		Addr: addr, Transport: transport,
		Balancer:     &kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		BatchSize:    rekeyChunkCount,
		BatchBytes:   rekeyBatchBytes,
		BatchTimeout: time.Millisecond,
	}
}

// rekey writes the copies of one fetched batch, retrying until Kafka
// takes them or the source stops: the batch goes on only once they are
// written, so that no checkpoint covers an event whose copy is missing.
func (k *Kafka) rekey(ctx context.Context, p *partition, msgs []kafka.Message) error {
	for len(msgs) > 0 {
		n, size := 0, 0
		for n < len(msgs) && n < rekeyChunkCount {
			m := &msgs[n]
			sz := len(m.Key) + len(m.Value) + 96
			for _, h := range m.Headers {
				sz += len(h.Key) + len(h.Value)
			}
			if n > 0 && size+sz > rekeyChunkBytes {
				break
			}
			size += sz
			n++
		}
		if err := k.rekeyChunk(ctx, p, msgs[:n]); err != nil {
			return err
		}
		msgs = msgs[n:]
	}
	return nil
}

func (k *Kafka) rekeyChunk(ctx context.Context, p *partition, pending []kafka.Message) error {
	total := len(pending)
	for backoff := 200 * time.Millisecond; ; backoff = min(2*backoff, 10*time.Second) {
		err := k.Writer.WriteMessages(ctx, pending...)
		if err == nil {
			k.counts.Rekeyed.Add(uint64(total))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var werrs kafka.WriteErrors
		if errors.As(err, &werrs) && len(werrs) == len(pending) {
			// Only what failed goes again: the partitions whose batch
			// Kafka refused.
			var failed []kafka.Message
			for i, e := range werrs {
				if e != nil {
					failed = append(failed, pending[i])
				}
			}
			pending = failed
		}
		k.log().Warn("kafka: writing re-keyed copies failed; retrying", "source", k.Name(), "partition", p.lane, "messages", len(pending), "error", err, "retry_in", backoff.String())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
	}
}

// outOfRange finds where to go on when the broker no longer has offset
// off: messages deleted by retention before cep read them (counted as
// lost and logged), or a topic recreated with fewer messages (read from
// its end).
func (k *Kafka) outOfRange(ctx context.Context, client *kafka.Client, p *partition, off int64) (int64, error) {
	first, err := k.listOffsets(ctx, client, []*partition{p}, kafka.FirstOffset)
	if err != nil {
		return 0, err
	}
	last, err := k.listOffsets(ctx, client, []*partition{p}, kafka.LastOffset)
	if err != nil {
		return 0, err
	}
	switch f, l := first[p.lane], last[p.lane]; {
	case off < f:
		k.counts.Lost.Add(uint64(f - off))
		k.log().Error("messages were deleted by the broker before cep read them: they are lost", "source", k.Name(), "partition", p.lane, "offset", off, "first_offset", f, "lost", f-off)
		return f, nil
	case off > l:
		k.log().Warn("the offset is past the partition's end (was the topic recreated?): reading from its end", "source", k.Name(), "partition", p.lane, "offset", off, "end", l)
		return l, nil
	}
	return 0, fmt.Errorf("partition %s: offset %d is out of range, though the partition holds %d to %d", p.lane, off, first[p.lane], last[p.lane])
}

// handOver waits for a free slot, then gives the merge a batch.
func (k *Kafka) handOver(ctx context.Context, room chan struct{}, out chan<- *partBatch, b *partBatch) error {
	select {
	case <-room:
	case <-ctx.Done():
		return nil
	}
	select {
	case out <- b:
	case <-ctx.Done():
	}
	return nil
}

func (k *Kafka) malformed(r *Reader, p *partition, off int64, err error) {
	n := k.counts.Malformed.Add(1)
	le := &LineError{Input: p.lane, Stream: k.Spec.Stream, Line: int(off), Err: err}
	if k.OnMalformed != nil {
		k.OnMalformed(le)
	}
	if n <= 100 || n%100 == 0 {
		r.log.Warn("malformed kafka message skipped", "source", k.Name(), "stream", k.Spec.Stream, "topic", p.topic, "partition", p.id, "offset", off, "error", err.Error(), "malformed_so_far", n)
	}
}

// Committed implements Committer: the offsets of a durable checkpoint go
// to the group. The newest wins over one not yet sent; after the source
// has stopped (the last checkpoint of a graceful stop) they are committed
// at once.
func (k *Kafka) Committed(p Positions) {
	if k.Group == "" || k.NoCommit {
		return
	}
	k.mu.Lock()
	client, running := k.client, k.running
	if k.commits == nil {
		k.commits = make(chan Positions, 1)
	}
	if running {
		// The newest replaces one not yet sent. Queued under the lock, so
		// that Run, stopping, either sees it or makes this call commit at
		// once.
		select {
		case <-k.commits:
		default:
		}
		k.commits <- p
		k.mu.Unlock()
		return
	}
	k.mu.Unlock()
	if client == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	k.commit(ctx, client, p)
}

func (k *Kafka) commitLoop(ctx context.Context, client *kafka.Client) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-k.commits:
			k.commit(ctx, client, p)
		}
	}
}

// commit hands offsets to the group, as its member when there is one.
func (k *Kafka) commit(ctx context.Context, client *kafka.Client, p Positions) {
	req := &kafka.OffsetCommitRequest{GroupID: k.Group, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{}}
	if m := k.Member; m != nil {
		req.GenerationID, req.MemberID = int(m.Generation), m.ID
	}
	for lane, b := range p {
		pos, err := decodeKafkaPos(b)
		if err != nil {
			continue
		}
		t, id, err := parseLane(lane)
		if err != nil {
			continue
		}
		req.Topics[t] = append(req.Topics[t], kafka.OffsetCommit{Partition: id, Offset: pos.off})
	}
	if len(req.Topics) == 0 {
		return
	}
	res, err := client.OffsetCommit(ctx, req)
	if err == nil {
		for t, ps := range res.Topics {
			for _, pr := range ps {
				if pr.Error != nil {
					err = errors.Join(err, fmt.Errorf("%s: %w", laneName(t, pr.Partition), pr.Error))
				}
			}
		}
	}
	if err != nil && ctx.Err() == nil {
		k.log().Warn("committing offsets to the consumer group failed; the checkpoint keeps them, the next commit retries", "source", k.Name(), "group", k.Group, "error", err)
	}
}
