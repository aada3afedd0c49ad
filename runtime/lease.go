package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/source"
	"github.com/cep-project/cep/state"
)

// This file holds what the loop does about the state store's health and
// ownership: the lease that makes one process of several the active one,
// and the pause in reading when checkpoints keep failing. runtime.go
// calls into it at a handful of points.

// Lease makes one process of a group the active one (state.Lease
// implements it over Redis).
type Lease interface {
	// Acquire waits until this process holds the lease.
	Acquire(ctx context.Context) error
	// Held reports whether the lease is held and confirmed right now.
	Held() bool
	// Changed is signalled when Held or Lost may have changed.
	Changed() <-chan struct{}
	// Lost is why the lease was lost for good, or nil.
	Lost() error
	// Release gives the lease up so that a standby takes over at once.
	Release(ctx context.Context) error
}

// DefaultMaxFailedCheckpoints is how many checkpoints may fail in a row
// before the loop stops reading its sources.
const DefaultMaxFailedCheckpoints = 3

// Roles a runtime reports in its Status.
const (
	RoleStarting  = "starting"
	RoleStandby   = "standby"
	RoleActive    = "active"
	RolePaused    = "paused"
	RoleSuspended = "suspended"
	RoleFenced    = "fenced"
	RoleStopping  = "stopping"
	RoleStopped   = "stopped"
)

// Status is what a runtime is doing, for health checks and metrics; it is
// safe to read from any goroutine.
type Status struct {
	// Role: starting, standby (waiting for the lease), active (reading),
	// paused (checkpoints failing: not reading until one succeeds),
	// suspended (the lease is not confirmed: not reading or emitting),
	// fenced (the lease was lost: stopping), stopping, stopped.
	Role string `json:"role"`
	// Reading is whether sources are being read.
	Reading bool `json:"reading"`
	// Why says why the runtime is not reading, when it is not.
	Why string `json:"why,omitempty"`
	// Checkpoints counts committed checkpoints; FailedCheckpoints those
	// that failed in a row since the last success; CheckpointErrors all
	// that failed.
	Checkpoints       int `json:"checkpoints"`
	FailedCheckpoints int `json:"failed_checkpoints"`
	CheckpointErrors  int `json:"checkpoint_errors"`
	// LastCheckpoint is the newest committed checkpoint and when.
	LastCheckpoint   *CheckpointStats `json:"last_checkpoint,omitempty"`
	LastCheckpointAt time.Time        `json:"last_checkpoint_at"`
	// LastError is the last checkpoint's error while they fail.
	LastError string `json:"last_error,omitempty"`
	// Withheld counts alerts not handed to the sinks because the lease
	// was not confirmed when they were made.
	Withheld int `json:"withheld_alerts"`
	// Store is whether the state store's backend answers, for a store
	// that can tell (Redis).
	Store *state.Health `json:"store,omitempty"`
}

// healthReporter is a store that can tell whether its backend answers.
type healthReporter interface{ Health() state.Health }

// guard is the runtime's state about ownership and pauses.
type guard struct {
	mu     sync.Mutex
	status Status

	// Loop-owned.
	failed  int
	retryAt time.Time
	bo      *backoff.ExponentialBackOff
	reading bool
	started bool
	// resumed is when reading last resumed after a pause: the engine is
	// not told the processing time until its sources had time to deliver,
	// or it would take them for idle.
	resumed time.Time
	// held are alerts made while the lease was not confirmed: sent when
	// it is, dropped when it is lost.
	held []*alert.Alert
	// stash is a batch that came in just as reading stopped.
	stash *source.Batch
	lost  error
}

// Status reports what the runtime is doing.
func (rt *Runtime) Status() Status {
	rt.g.mu.Lock()
	s := rt.g.status
	rt.g.mu.Unlock()
	if s.LastCheckpoint != nil {
		c := *s.LastCheckpoint
		s.LastCheckpoint = &c
	}
	if hr, ok := rt.cfg.Store.(healthReporter); ok {
		h := hr.Health()
		s.Store = &h
	}
	return s
}

func (rt *Runtime) setStatus(f func(*Status)) {
	rt.g.mu.Lock()
	f(&rt.g.status)
	rt.g.mu.Unlock()
}

func (rt *Runtime) setRole(role string) { rt.setStatus(func(s *Status) { s.Role = role }) }

func (rt *Runtime) maxFailed() int {
	if rt.cfg.MaxFailedCheckpoints > 0 {
		return rt.cfg.MaxFailedCheckpoints
	}
	return DefaultMaxFailedCheckpoints
}

// standby waits for the lease before anything is restored or read; it
// reports false when ctx ended first.
func (rt *Runtime) standby(ctx context.Context) (bool, error) {
	if rt.cfg.Lease == nil {
		return true, nil
	}
	rt.setRole(RoleStandby)
	rt.log.Info("standby: waiting for the state's lease before reading any source")
	if err := rt.cfg.Lease.Acquire(ctx); err != nil {
		if ctx.Err() != nil {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// owns reports whether this runtime may write checkpoints and emit: it
// holds the lease, or there is none.
func (rt *Runtime) owns() bool {
	if rt.g.lost != nil {
		return false
	}
	return rt.cfg.Lease == nil || rt.cfg.Lease.Held()
}

// leaseChanged is what the loop does when the lease changes: on loss it
// stops (reported true); when the lease is confirmed again, alerts held
// back in the meantime go to the sinks.
func (rt *Runtime) leaseChanged() bool {
	l := rt.cfg.Lease
	if err := l.Lost(); err != nil {
		rt.fence(err)
		return true
	}
	if l.Held() && len(rt.g.held) > 0 {
		held := rt.g.held
		rt.g.held = nil
		for _, a := range held {
			rt.emit(a)
		}
	}
	rt.updateReading(time.Now())
	return false
}

// fence stops the runtime for good: another process owns the state now.
func (rt *Runtime) fence(err error) {
	if rt.g.lost != nil {
		return
	}
	rt.g.lost = err
	rt.res.Fenced = err
	n := len(rt.g.held)
	rt.g.held = nil
	rt.log.Error("this process no longer owns the state: it stops reading and emitting; the process that does emits the alerts since the last checkpoint",
		"error", err, "alerts_withheld", n)
	rt.setStatus(func(s *Status) {
		s.Role, s.Reading, s.Why = RoleFenced, false, err.Error()
		s.Withheld += n
	})
}

// withhold keeps an alert back when the lease is not confirmed; it
// reports whether it did.
func (rt *Runtime) withhold(a *alert.Alert) bool {
	if rt.cfg.Lease == nil || rt.cfg.Lease.Held() && rt.g.lost == nil {
		return false
	}
	if rt.g.lost == nil {
		rt.g.held = append(rt.g.held, a)
	}
	rt.setStatus(func(s *Status) { s.Withheld++ })
	return true
}

// updateReading decides whether sources are read: not while the lease is
// unconfirmed, nor after MaxFailedCheckpoints failures in a row.
func (rt *Runtime) updateReading(now time.Time) bool {
	var why, role string
	switch {
	case rt.g.lost != nil:
		role, why = RoleFenced, rt.g.lost.Error()
	case rt.cfg.Lease != nil && !rt.cfg.Lease.Held():
		role, why = RoleSuspended, "the state's lease is not confirmed by the store"
	case rt.g.failed >= rt.maxFailed():
		role, why = RolePaused, fmt.Sprintf("%d checkpoints in a row failed: reading resumes when one succeeds", rt.g.failed)
	default:
		role = RoleActive
	}
	reading := role == RoleActive
	switch {
	case reading == rt.g.reading && rt.g.started:
	case reading && rt.g.started:
		rt.g.resumed = now
		rt.log.Info("reading sources again")
	case !reading:
		rt.log.Error("stopped reading sources", "why", why)
	}
	rt.g.reading, rt.g.started = reading, true
	rt.setStatus(func(s *Status) { s.Role, s.Reading, s.Why = role, reading, why })
	return reading
}

// mayTick reports whether the engine may learn the processing time: not
// while paused, and not until the sources had an idle timeout's time to
// deliver after a pause, or it would take them for idle.
func (rt *Runtime) mayTick(now time.Time) bool {
	if !rt.g.reading {
		return false
	}
	return rt.g.resumed.IsZero() || now.Sub(rt.g.resumed) >= rt.cfg.Engine.IdleTimeout
}

// checkpointDue reports whether a checkpoint is to be taken now: every
// interval, and after a failure when the backoff says so.
func (rt *Runtime) checkpointDue(now, last time.Time) bool {
	if rt.cfg.Store == nil || rt.inflight || !rt.owns() {
		return false
	}
	if rt.g.failed > 0 {
		return !now.Before(rt.g.retryAt)
	}
	return now.Sub(last) >= rt.cfg.Interval
}

// checkpointFailed counts a failed checkpoint and schedules the retry.
func (rt *Runtime) checkpointFailed(id uint64, err error) {
	rt.res.CheckpointErrors++
	if rt.g.bo == nil {
		rt.g.bo = backoff.NewExponentialBackOff()
		rt.g.bo.InitialInterval = min(500*time.Millisecond, rt.cfg.Interval)
		rt.g.bo.MaxInterval = max(rt.cfg.Interval, rt.g.bo.InitialInterval)
	}
	rt.g.failed++
	wait := rt.g.bo.NextBackOff()
	rt.g.retryAt = time.Now().Add(wait)
	rt.log.Error("checkpoint failed; retrying", "id", id, "error", err, "failed_in_a_row", rt.g.failed,
		"retry_in", wait.Round(time.Millisecond).String())
	rt.setStatus(func(s *Status) {
		s.FailedCheckpoints, s.CheckpointErrors, s.LastError = rt.g.failed, rt.res.CheckpointErrors, err.Error()
	})
	if errors.Is(err, state.ErrFenced) && rt.cfg.Lease != nil {
		// The store says another process owns the state, whatever the
		// lease believes.
		rt.fence(err)
	}
	rt.updateReading(time.Now())
}

// checkpointOK records a committed checkpoint.
func (rt *Runtime) checkpointOK(st CheckpointStats) {
	if rt.g.failed > 0 {
		rt.log.Info("checkpoint committed after failures", "id", st.ID, "failed_in_a_row", rt.g.failed)
	}
	rt.g.failed = 0
	if rt.g.bo != nil {
		rt.g.bo.Reset()
	}
	rt.setStatus(func(s *Status) {
		s.Checkpoints, s.FailedCheckpoints, s.LastError = rt.res.Checkpoints, 0, ""
		s.LastCheckpoint, s.LastCheckpointAt = &st, time.Now()
	})
	rt.updateReading(time.Now())
}

// release gives the lease up at the end of a run that owned it.
func (rt *Runtime) release(ctx context.Context) {
	if rt.cfg.Lease == nil || rt.g.lost != nil {
		return
	}
	if err := rt.cfg.Lease.Release(ctx); err != nil {
		rt.log.Warn("the lease could not be released: a standby takes over when it lapses", "error", err)
	}
}

// leaseSignal is the lease's change channel, or nil without a lease.
func (rt *Runtime) leaseSignal() <-chan struct{} {
	if rt.cfg.Lease == nil {
		return nil
	}
	return rt.cfg.Lease.Changed()
}
