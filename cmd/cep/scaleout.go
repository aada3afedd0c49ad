package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/runtime"
	"github.com/cep-project/cep/runtime/scaleout"
	"github.com/cep-project/cep/source"
	"github.com/cep-project/cep/state"
)

// scaleOutConfig is scale_out: this process is one of several of a Kafka
// consumer group that share the partitions of its kafka sources (see
// package scaleout).
type scaleOutConfig struct {
	// Group is the consumer group; the kafka sources' offsets are
	// committed to it.
	Group string `yaml:"group" yamlx:"required"`
	// SessionTimeout: a process silent this long loses its tasks to the
	// others; default 10s.
	SessionTimeout duration `yaml:"session_timeout"`
	// RebalanceTimeout: how long a rebalance waits for every process to
	// stop its tasks (a last checkpoint each); default stop_timeout + 10s.
	RebalanceTimeout duration `yaml:"rebalance_timeout"`
	// Repartition re-keys the events of stateful rules keyed otherwise
	// than their topics' messages (keyed_by) through repartition topics;
	// default true. Off, every task keeps its partitions' state only.
	Repartition *bool `yaml:"repartition"`
	// ReplicationFactor of the repartition topics cep creates; default
	// the brokers' default.
	ReplicationFactor int `yaml:"replication_factor" yamlx:"min=-1"`
}

// validateScaleOut checks what scale_out needs: kafka sources only, of the
// same brokers, and a shared state store.
func (c *config) validateScaleOut() []error {
	so := c.ScaleOut
	if so == nil {
		return nil
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("scale_out: "+format, args...)) }
	if so.SessionTimeout < 0 || so.RebalanceTimeout < 0 {
		bad("session_timeout and rebalance_timeout must not be negative")
	}
	if c.State.Redis == nil {
		bad("needs state.redis: a task's state moves between processes through the shared store")
	}
	if c.State.Dir != "" {
		bad("state.dir is one process's: use state.redis")
	}
	if c.Ingest != nil || c.Admin != nil {
		bad("ingest and admin are not available with scale_out: every event comes from Kafka, and a process holds only some tasks' state")
	}
	var brokers []string
	for i, s := range c.Sources {
		if s.Type != "kafka" {
			bad("sources[%d] is of type %s: with scale_out every source is kafka, so that each event has a partition and an owner", i, s.Type)
			continue
		}
		if s.Group != "" && s.Group != so.Group {
			bad("sources[%d].group is %q: the sources' offsets belong to the scale-out group %q (leave group out)", i, s.Group, so.Group)
		}
		if s.StopAtEnd {
			bad("sources[%d].stop_at_end: a scaled-out process runs until it is stopped", i)
		}
		if brokers == nil {
			brokers = s.Brokers
		} else if !slices.Equal(brokers, s.Brokers) {
			bad("sources[%d].brokers differ from sources[0]'s: the topics of a group are on one cluster", i)
		}
	}
	return errs
}

// scaleOutGroup builds this process's membership: every task runs the
// rules over partition N of the sources' topics, with its state in its own
// scopes of the Redis store (see plan for the runtimes of one task).
func (a *app) scaleOutGroup(ctx context.Context, cfg *config, base runtime.Config, srcs []source.Source, store *state.Redis) (*scaleout.Group, error) {
	so := cfg.ScaleOut
	var ks []*source.Kafka
	var topics []string
	keyedBy := map[string]string{}
	for i, s := range srcs {
		k, ok := s.(*source.Kafka)
		if !ok {
			return nil, fmt.Errorf("scale_out: source %s is not a kafka source", s.Name())
		}
		k.Group = so.Group
		ks = append(ks, k)
		for _, t := range k.Topics {
			if !slices.Contains(topics, t) {
				topics = append(topics, t)
			}
		}
		if kb := cfg.Sources[i].KeyedBy; len(kb) > 0 {
			keyedBy[k.Spec.Stream] = keyExprText(kb)
		}
	}
	if len(ks) == 0 {
		return nil, fmt.Errorf("scale_out: no kafka source")
	}
	d := &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: ks[0].TLS, SASLMechanism: ks[0].SASL, ClientID: "cep"}
	client := &kafka.Client{Addr: kafka.TCP(ks[0].Brokers...), Timeout: 30 * time.Second,
		Transport: &kafka.Transport{TLS: ks[0].TLS, SASL: ks[0].SASL, ClientID: "cep"}}
	parts, err := partitionCount(ctx, client, topics)
	if err != nil {
		return nil, err
	}
	writer := source.NewRekeyWriter(kafka.TCP(ks[0].Brokers...), client.Transport)
	lease := cfg.State.Redis.Lease
	prefix := lease.Name
	if prefix == "" {
		prefix = so.Group
	}
	repartition := so.Repartition == nil || *so.Repartition
	created := map[string]bool{}
	base.Store, base.Lease, base.Legacy, base.Sources = nil, nil, nil, nil
	return scaleout.New(scaleout.Config{
		Group:            so.Group,
		Brokers:          ks[0].Brokers,
		Topics:           topics,
		Dialer:           d,
		SessionTimeout:   time.Duration(so.SessionTimeout),
		RebalanceTimeout: time.Duration(so.RebalanceTimeout),
		Base:             base,
		Log:              a.log,
		Units: func(t scaleout.Task, rs []*rules.Rule, base runtime.Config) ([]scaleout.Unit, error) {
			var streams []string
			for _, k := range ks {
				streams = append(streams, k.Spec.Stream)
			}
			p := planTask(rs, streams, keyedBy, repartition, so.Group)
			for _, rp := range p.repartitions {
				if !created[rp.topic] {
					if err := ensureTopic(context.Background(), client, rp.topic, parts, so.ReplicationFactor); err != nil {
						return nil, err
					}
					created[rp.topic] = true
				}
			}
			m := t.Member
			scope := func(name string) (*state.Redis, error) {
				return store.Scope(prefix + ".task-" + strconv.Itoa(t.ID) + name)
			}
			unit := func(name string, rs []*rules.Rule, srcs []*source.Kafka) (scaleout.Unit, error) {
				rc := base
				rc.Rules = rs
				// The unit's stateless filters are evaluated on its
				// sources' decoders (correlate.Engine.Preparer).
				prep := &source.Preparation{}
				for _, s := range srcs {
					s.Spec.Prepare = prep
					rc.Sources = append(rc.Sources, s)
				}
				rc.Engine.Prepare = prep.Store
				ts, err := scope(name)
				if err != nil {
					return scaleout.Unit{}, err
				}
				rc.Store = ts
				rc.Lease = ts.NewLease(state.LeaseOptions{TTL: time.Duration(lease.TTL)})
				// The process's memory budget is shared by its runtimes.
				if n := int64(t.Of * (1 + len(p.keyed))); n > 1 {
					rc.Engine.Limits.MaxStateBytes /= n
					rc.Engine.MaxBufferBytes /= n
				}
				return scaleout.Unit{Name: strings.TrimPrefix(name, "."), Config: rc}, nil
			}
			// The direct unit reads every topic, commits its offsets and
			// writes the re-keyed copies.
			var direct []*source.Kafka
			for _, k := range ks {
				src := k.ForTask([]int{t.ID}, &m)
				for _, rp := range p.repartitions {
					if rp.stream == k.Spec.Stream {
						src.Rekey = append(src.Rekey, source.Rekey{Topic: rp.topic, Key: keyFunc(rp.progs)})
						src.Writer = writer
					}
				}
				direct = append(direct, src)
			}
			u, err := unit("", p.direct, direct)
			if err != nil {
				return nil, err
			}
			units := []scaleout.Unit{u}
			for _, kg := range p.keyed {
				var srcs []*source.Kafka
				for _, st := range kg.streams {
					k := ks[slices.IndexFunc(ks, func(k *source.Kafka) bool { return k.Spec.Stream == st })]
					if rp := p.findFor(kg, st); rp != nil {
						rk := k.ForTask([]int{t.ID}, &m)
						rk.Spec.Name, rk.Topics, rk.Dedup = k.Spec.Name+" via "+rp.topic, []string{rp.topic}, true
						srcs = append(srcs, rk)
						continue
					}
					// A topic keyed as the rules are is read again, its
					// offsets left to the direct unit.
					again := k.ForTask([]int{t.ID}, &m)
					again.NoCommit = true
					srcs = append(srcs, again)
				}
				u, err := unit("."+kg.name, kg.rules, srcs)
				if err != nil {
					return nil, err
				}
				units = append(units, u)
			}
			return units, nil
		},
	})
}

// taskPlan is what the runtimes of a task run. Rules whose state is keyed
// as their topics' messages are (keyed_by), and stateless rules, run in
// the direct unit, on the topics' own partitions. Rules keyed otherwise
// need every event of one key in one task: they run in a unit per key,
// reading each stream either from its topic, when that is keyed by the
// same key, or from a repartition topic into which the direct unit
// writes copies of the stream's events under the rule's key.
type taskPlan struct {
	direct       []*rules.Rule
	keyed        []keyGroup
	repartitions []*repartitionTopic
}

type keyGroup struct {
	// sig is each stream's key expressions, by stream: rules with the
	// same share a group.
	sig     []streamKey
	name    string
	rules   []*rules.Rule
	streams []string
}

// streamKey is the key expressions a rule reads a stream by, normalised
// (keyExprText).
type streamKey struct{ stream, key string }

type repartitionTopic struct {
	key, stream, topic string
	progs              []*rules.Program
}

// findFor is the repartition topic a key group reads stream from, or nil
// when it reads the stream's own topic.
func (p *taskPlan) findFor(g keyGroup, stream string) *repartitionTopic {
	for _, sk := range g.sig {
		if sk.stream == stream {
			return p.find(sk.key, stream)
		}
	}
	return nil
}

func (p *taskPlan) find(key, stream string) *repartitionTopic {
	for _, rp := range p.repartitions {
		if rp.key == key && rp.stream == stream {
			return rp
		}
	}
	return nil
}

// keyExprText normalises key expressions for comparison.
func keyExprText(exprs []string) string {
	out := make([]string, len(exprs))
	for i, e := range exprs {
		out[i] = strings.Join(strings.Fields(e), "")
	}
	return strings.Join(out, ",")
}

// keyed reports whether a rule keeps state by key: a detector, or alert
// dedup, grouping or throttling.
func keyed(r *rules.Rule) bool {
	return r.Kind != rules.KindMatch || r.Dedup > 0 || r.Group != nil || r.Throttle != nil
}

func planTask(rs []*rules.Rule, streams []string, keyedBy map[string]string, repartition bool, group string) *taskPlan {
	p := &taskPlan{}
	for _, r := range rs {
		reads := usedStreams(r, streams)
		// A rule's key may be written differently for each stream it
		// reads (a join's sides): each stream is re-keyed by its own.
		var sig []streamKey
		keys := map[string]string{}
		needs := false
		for _, st := range reads {
			if !slices.Contains(streams, st) {
				continue
			}
			progs := r.KeyPrograms(st)
			exprs := make([]string, len(progs))
			for i, pr := range progs {
				exprs[i] = pr.Expr.Text
			}
			k := keyExprText(exprs)
			keys[st] = k
			sig = append(sig, streamKey{st, k})
			if kb, ok := keyedBy[st]; keyed(r) && (!ok || kb != k) {
				needs = true
			}
		}
		if !repartition || !needs {
			p.direct = append(p.direct, r)
			continue
		}
		slices.SortFunc(sig, func(a, b streamKey) int {
			return cmp.Or(strings.Compare(a.stream, b.stream), strings.Compare(a.key, b.key))
		})
		i := slices.IndexFunc(p.keyed, func(g keyGroup) bool { return slices.Equal(g.sig, sig) })
		if i < 0 {
			name := keyName(keys[reads[0]])
			for n := 2; slices.ContainsFunc(p.keyed, func(g keyGroup) bool { return g.name == name }); n++ {
				name = keyName(keys[reads[0]]) + "-" + strconv.Itoa(n)
			}
			p.keyed = append(p.keyed, keyGroup{sig: sig, name: name})
			i = len(p.keyed) - 1
		}
		g := &p.keyed[i]
		g.rules = append(g.rules, r)
		for _, st := range reads {
			k, ok := keys[st]
			if !ok || slices.Contains(g.streams, st) {
				continue
			}
			g.streams = append(g.streams, st)
			if kb, ok := keyedBy[st]; ok && kb == k {
				continue
			}
			if p.find(k, st) == nil {
				p.repartitions = append(p.repartitions, &repartitionTopic{key: k, stream: st,
					topic: group + ".repartition." + keyName(k) + "." + st, progs: r.KeyPrograms(st)})
			}
		}
	}
	return p
}

// usedStreams are the streams whose events can change a rule's state or
// make its alerts: those it names, a sequence's steps' or a join's sides'
// when every one names its stream and none sees all events (an until of
// the whole sequence, strict contiguity), else every stream.
func usedStreams(r *rules.Rule, all []string) []string {
	if len(r.Streams) > 0 {
		return r.Streams
	}
	var out []string
	add := func(st string) bool {
		if st == "" {
			return false
		}
		if !slices.Contains(out, st) {
			out = append(out, st)
		}
		return true
	}
	switch {
	case r.Sequence != nil && r.Sequence.Until == nil:
		for _, st := range r.Sequence.Steps {
			if st.Spec.Contiguity == "strict" || !add(st.Spec.Stream) {
				return all
			}
		}
		return out
	case r.Join != nil:
		for _, sd := range r.Join.Sides {
			if !add(sd.Stream) {
				return all
			}
		}
		return out
	}
	return all
}

var topicUnsafe = regexp.MustCompile(`[^a-zA-Z0-9._-]+`)

// keyName names a key in topic and scope names: its fields ("user",
// "card_id+merchant"), or a hash of its text when it is not plain fields.
func keyName(key string) string {
	if key == "" {
		return "all"
	}
	var parts []string
	for _, e := range strings.Split(key, ",") {
		f, ok := strings.CutPrefix(e, "event.")
		if !ok || topicUnsafe.MatchString(f) {
			h := fnv.New32a()
			_, _ = h.Write([]byte(key))
			return fmt.Sprintf("k%08x", h.Sum32())
		}
		parts = append(parts, f)
	}
	return strings.Join(parts, "+")
}

// keyFunc computes the message key of a re-keyed copy: the key's value
// as text when it is one string, else its parts as a JSON array.
func keyFunc(progs []*rules.Program) func(*event.Event) ([]byte, bool) {
	type scratch struct {
		act  rules.Activation
		vals []any
	}
	pool := sync.Pool{New: func() any { return &scratch{} }}
	return func(ev *event.Event) ([]byte, bool) {
		sc := pool.Get().(*scratch)
		defer pool.Put(sc)
		vals, st := rules.EvalKeyOf(progs, ev, &sc.act, sc.vals)
		sc.vals = vals
		if st != rules.KeyOK {
			return nil, false
		}
		if len(vals) == 1 {
			if s, ok := vals[0].(string); ok {
				return []byte(s), true
			}
		}
		b, err := json.Marshal(vals)
		return b, err == nil
	}
}

// partitionCount is the topics' number of partitions, which must be the
// same for all: partition N of each is task N's.
func partitionCount(ctx context.Context, client *kafka.Client, topics []string) (int, error) {
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: topics})
	if err != nil {
		return 0, fmt.Errorf("scale_out: metadata of %s: %w", strings.Join(topics, ", "), err)
	}
	n := -1
	var first string
	for _, t := range md.Topics {
		if t.Error != nil {
			return 0, fmt.Errorf("scale_out: topic %s: %w", t.Name, t.Error)
		}
		switch {
		case n < 0:
			n, first = len(t.Partitions), t.Name
		case len(t.Partitions) != n:
			return 0, fmt.Errorf("scale_out: topic %s has %d partitions and %s has %d: the topics of a scaled-out group must have the same number, so that partition N of each is one task's", first, n, t.Name, len(t.Partitions))
		}
	}
	return n, nil
}

// ensureTopic creates a repartition topic with the input topics'
// partitions, or checks the one there.
func ensureTopic(ctx context.Context, client *kafka.Client, topic string, parts, replication int) error {
	if replication == 0 {
		replication = -1
	}
	res, err := client.CreateTopics(ctx, &kafka.CreateTopicsRequest{Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: parts, ReplicationFactor: replication}}})
	if err == nil {
		err = res.Errors[topic]
	}
	if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
		return fmt.Errorf("scale_out: creating repartition topic %s: %w", topic, err)
	}
	n, err := partitionCount(ctx, client, []string{topic})
	if err != nil {
		return err
	}
	if n != parts {
		return fmt.Errorf("scale_out: repartition topic %s has %d partitions, the input topics %d: delete it, or give the topics the same number", topic, n, parts)
	}
	return nil
}
