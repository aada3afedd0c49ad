package main

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/segmentio/kafka-go"

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

// scaleOutGroup builds this process's membership: every task runs the base
// configuration over partition N of the sources' topics, with its state in
// its own scope of the Redis store.
func (a *app) scaleOutGroup(cfg *config, base runtime.Config, srcs []source.Source, store *state.Redis) (*scaleout.Group, error) {
	so := cfg.ScaleOut
	var ks []*source.Kafka
	var topics []string
	for _, s := range srcs {
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
	}
	if len(ks) == 0 {
		return nil, fmt.Errorf("scale_out: no kafka source")
	}
	d := &kafka.Dialer{Timeout: 10 * time.Second, DualStack: true, TLS: ks[0].TLS, SASLMechanism: ks[0].SASL, ClientID: "cep"}
	lease := cfg.State.Redis.Lease
	prefix := lease.Name
	if prefix == "" {
		prefix = so.Group
	}
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
		Task: func(t scaleout.Task, rc *runtime.Config) error {
			m := t.Member
			for _, k := range ks {
				rc.Sources = append(rc.Sources, k.ForTask([]int{t.ID}, &m))
			}
			ts, err := store.Scope(prefix + ".task-" + strconv.Itoa(t.ID))
			if err != nil {
				return err
			}
			rc.Store = ts
			rc.Lease = ts.NewLease(state.LeaseOptions{TTL: time.Duration(lease.TTL)})
			// The process's memory budget is shared by its tasks.
			if t.Of > 1 {
				rc.Engine.Limits.MaxStateBytes /= int64(t.Of)
				rc.Engine.MaxBufferBytes /= int64(t.Of)
			}
			return nil
		},
	})
}
