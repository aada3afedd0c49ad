package runtime

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/cep-project/cep/source"
	"github.com/cep-project/cep/state"
)

type commitResult struct {
	id  uint64
	err error
	// abandoned: the run was stopping and cut the wait short.
	abandoned bool
	CheckpointStats
	// positions are those of the sources that want to hear when a
	// checkpoint covering them is durable (source.Committer).
	positions map[string]source.Positions
}

// CheckpointStats describe one checkpoint.
type CheckpointStats struct {
	ID uint64
	// Bytes is the size of its entries.
	Bytes int64
	// Snapshot is how long the engine was paused to write it; Took is
	// the time until it was committed, waiting for the sinks included.
	Snapshot, Took time.Duration
}

// Restore loads the newest checkpoint now; Run does it when it has not
// been done.
func (rt *Runtime) Restore(ctx context.Context) error { return rt.restore(ctx) }

// restore loads the newest checkpoint into the engine and remembers the
// sources' positions; without one, it reads the state of an older cep
// (online models and baselines) when there is some.
func (rt *Runtime) restore(ctx context.Context) error {
	if rt.restored {
		return nil
	}
	rt.restored = true
	if rt.cfg.Store == nil || rt.cfg.Mode != Service {
		if rt.cfg.Legacy != nil {
			return rt.eng.LoadState(rt.cfg.Legacy)
		}
		return nil
	}
	snap, err := rt.cfg.Store.Latest(ctx)
	if err != nil {
		return err
	}
	if snap == nil {
		if rt.cfg.Legacy != nil {
			return rt.eng.LoadState(rt.cfg.Legacy)
		}
		return nil
	}
	defer func() { _ = snap.Close() }()
	start := time.Now()
	meta := snap.Meta()
	rs := rt.eng.Restore()
	n := 0
	err = snap.Entries(func(e state.Entry) error {
		n++
		return rs.Entry(e.Scope, e.Key, e.Value)
	})
	if err == nil {
		err = rs.Finish()
	}
	if err != nil {
		return fmt.Errorf("restoring checkpoint %d: %w", meta.ID, err)
	}
	for _, p := range meta.Positions {
		pos, err := source.DecodePositions(p.Data)
		if err != nil {
			return fmt.Errorf("checkpoint %d: source %s: %w", meta.ID, p.Source, err)
		}
		rt.from[p.Source] = pos
		rt.positions[p.Source] = pos
	}
	known := map[string]bool{}
	for _, s := range rt.cfg.Sources {
		known[s.Name()] = true
		if _, ok := rt.from[s.Name()]; !ok {
			rt.log.Info("source not in the checkpoint: reading it from the start", "source", s.Name())
		}
	}
	for name := range rt.from {
		if !known[name] {
			rt.log.Warn("the checkpoint has a position for a source that is no longer configured: it is dropped", "source", name)
			delete(rt.positions, name)
		}
	}
	for _, id := range rs.Changed {
		rt.log.Warn("rule changed since the checkpoint: its state starts empty", "rule", id)
	}
	for _, id := range rs.Kept {
		rt.log.Info("rule changed since the checkpoint only in keys that keep state: its state is restored", "rule", id)
	}
	for _, id := range rs.Dropped {
		rt.log.Info("rule in the checkpoint is no longer loaded: its state is dropped", "rule", id)
	}
	rt.nextID = meta.ID + 1
	rt.res.Restored = &meta
	rt.log.Info("restored checkpoint", "id", meta.ID, "written", meta.Created.Format(time.RFC3339), "by", meta.Writer,
		"entries", n, "seconds", fmt.Sprintf("%.3f", time.Since(start).Seconds()))
	return nil
}

// checkpoint writes the engine's state and the sources' positions, and
// commits it in the background once the sink has delivered or spooled
// every alert sent so far.
func (rt *Runtime) checkpoint(ctx context.Context) error {
	start := time.Now()
	id := rt.nextID
	rt.nextID++
	meta := state.Meta{ID: id, Created: start.UTC(), Writer: rt.cfg.Writer}
	var durable map[string]source.Positions
	for _, s := range rt.cfg.Sources {
		if p, ok := rt.positions[s.Name()]; ok {
			meta.Positions = append(meta.Positions, state.Position{Source: s.Name(), Data: source.EncodePositions(p)})
			if _, ok := s.(source.Committer); ok {
				if durable == nil {
					durable = map[string]source.Positions{}
				}
				durable[s.Name()] = maps.Clone(p)
			}
		}
	}
	tx, err := rt.cfg.Store.Begin(ctx, meta)
	if err != nil {
		return err
	}
	var size int64
	ttls := map[string]time.Duration{}
	err = rt.eng.Snapshot(func(scope, key string, val []byte) error {
		size += int64(len(scope) + len(key) + len(val))
		ttl, ok := ttls[scope]
		if !ok {
			ttl = rt.eng.ScopeTTL(scope)
			ttls[scope] = ttl
		}
		return tx.Put(state.Entry{Scope: scope, Key: key, Value: val, TTL: ttl})
	})
	if err != nil {
		tx.Abort()
		return fmt.Errorf("checkpoint %d: %w", id, err)
	}
	taken := time.Since(start)
	mark := rt.cfg.Sink.Mark()
	rt.log.Debug("checkpoint taken; waiting for the sinks", "id", id, "bytes", size, "snapshot_seconds", fmt.Sprintf("%.3f", taken.Seconds()))
	rt.inflight = true
	go func() {
		err := rt.cfg.Sink.Wait(ctx, mark)
		if err == nil {
			err = tx.Commit(ctx)
		} else {
			tx.Abort()
			err = fmt.Errorf("waiting for the sinks: %w", err)
		}
		rt.committed <- commitResult{id: id, err: err, abandoned: err != nil && ctx.Err() != nil, CheckpointStats: CheckpointStats{ID: id, Bytes: size, Snapshot: taken, Took: time.Since(start)}, positions: durable}
	}()
	return nil
}

func (rt *Runtime) committedOne(r commitResult) {
	rt.inflight = false
	if r.abandoned {
		// The stop cut short the wait for the sinks; the last checkpoint,
		// which waits for them too, covers what this one would have.
		rt.log.Debug("checkpoint abandoned at the stop; the last checkpoint replaces it", "id", r.id)
		return
	}
	if r.err != nil {
		rt.checkpointFailed(r.id, r.err)
		return
	}
	rt.res.Checkpoints++
	st := r.CheckpointStats
	rt.res.LastCheckpoint = &st
	rt.checkpointOK(st)
	// Only now may a source tell its upstream that what the checkpoint
	// covers is consumed (a Kafka group's offsets).
	for _, s := range rt.cfg.Sources {
		if c, ok := s.(source.Committer); ok {
			if p, ok := r.positions[s.Name()]; ok {
				c.Committed(p)
			}
		}
	}
	rt.log.Debug("checkpoint committed", "id", r.id, "bytes", st.Bytes,
		"snapshot_seconds", fmt.Sprintf("%.3f", st.Snapshot.Seconds()), "seconds", fmt.Sprintf("%.3f", st.Took.Seconds()))
}
