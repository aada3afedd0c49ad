package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/redis/go-redis/v9"
)

// Lease makes one process of a group the active one: it holds a key in
// Redis (SET NX PX), renews it, and gives it up on a graceful stop. The
// others wait as standbys and take the lease when it lapses.
//
// The lease's value is a random token and the holder's name. Every
// checkpoint commit checks the token in the same script that makes the
// checkpoint visible, so a process that lost its lease cannot overwrite
// its successor's state. Held turns false the moment the lease may have
// lapsed — a little before Redis would let another process take it — so
// that the holder stops emitting before a successor starts.
type Lease struct {
	r     *Redis
	key   string
	value string
	ttl   time.Duration
	every time.Duration
	poll  time.Duration
	// margin is taken off the lease's TTL for the local deadline, for
	// the time a renewal's reply takes and for clock drift.
	margin time.Duration

	mu       sync.Mutex
	state    LeaseState
	deadline time.Time
	lost     error
	changed  chan struct{}
	stop     context.CancelFunc
	done     chan struct{}
}

// LeaseState is where a lease stands.
type LeaseState int

const (
	// LeaseStandby: waiting for another process's lease to lapse.
	LeaseStandby LeaseState = iota
	// LeaseActive: held and renewed.
	LeaseActive
	// LeaseSuspended: held, but Redis has not confirmed it in time; the
	// holder must not emit until it does.
	LeaseSuspended
	// LeaseLost: another process holds it, or wrote a checkpoint since.
	LeaseLost
	// LeaseReleased: given up at a graceful stop.
	LeaseReleased
)

func (s LeaseState) String() string {
	switch s {
	case LeaseStandby:
		return "standby"
	case LeaseActive:
		return "active"
	case LeaseSuspended:
		return "suspended"
	case LeaseLost:
		return "lost"
	case LeaseReleased:
		return "released"
	}
	return "unknown"
}

// DefaultLeaseTTL is the lease's time to live when none is configured.
const DefaultLeaseTTL = 10 * time.Second

// LeaseOptions configures a lease.
type LeaseOptions struct {
	// TTL is how long the lease lives without a renewal: how long a
	// standby waits after the active process dies. Default 10s.
	TTL time.Duration
	// Holder names this process in the lease and in other processes'
	// logs; default host name and process id.
	Holder string
}

// renewScript renews the lease while this process holds it; when it
// lapsed and nobody took it, it takes it again — but only if no other
// process wrote a checkpoint since: the last one is this lease's (its
// owner, which a commit records, is this lease's value; ARGV 1), or it is
// the one this process last knew committed (ARGV 3), for ids only grow.
// Otherwise another process was active in between and this one's state
// is stale. The owner, not an id, is what recognises a checkpoint of this
// process whose commit's reply it has not read yet: another process that
// restored the checkpoint before it writes the same id.
// It returns {1} renewed, {2} taken again, {0, holder} held by another,
// {3, id} lapsed and another checkpoint written since.
var renewScript = redis.NewScript(`#!lua
local cur = redis.call('GET', KEYS[1])
if cur == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1}
end
if cur then
  return {0, cur}
end
local h = redis.call('HMGET', KEYS[2], 'id', 'owner')
local id = h[1] or '0'
if h[2] == ARGV[1] or id == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {2}
end
return {3, id}
`)

// releaseScript deletes the lease if this process holds it.
var releaseScript = redis.NewScript(`#!lua
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// NewLease makes the lease of the store's group; the store's commits
// check it from now on.
func (r *Redis) NewLease(o LeaseOptions) *Lease {
	if o.TTL <= 0 {
		o.TTL = DefaultLeaseTTL
	}
	if o.Holder == "" {
		host, _ := os.Hostname()
		o.Holder = host + " pid " + strconv.Itoa(os.Getpid())
	}
	l := &Lease{
		r:       r,
		key:     r.keys.lease(),
		value:   randomToken() + " " + o.Holder,
		ttl:     o.TTL,
		every:   o.TTL / 3,
		poll:    min(max(o.TTL/20, 20*time.Millisecond), 500*time.Millisecond),
		margin:  max(o.TTL/10, 10*time.Millisecond),
		changed: make(chan struct{}, 1),
	}
	r.mu.Lock()
	r.lease = l
	r.mu.Unlock()
	return l
}

// Holder is this process's name in the lease.
func (l *Lease) Holder() string { return holderOf(l.value) }

// TTL is the lease's time to live.
func (l *Lease) TTL() time.Duration { return l.ttl }

// State is where the lease stands now.
func (l *Lease) State() LeaseState {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state == LeaseActive && !time.Now().Before(l.deadline) {
		return LeaseSuspended
	}
	return l.state
}

// Held reports whether this process holds the lease now, confirmed by
// Redis within its TTL. It is false once the lease may have lapsed.
func (l *Lease) Held() bool { return l.State() == LeaseActive }

// Changed is signalled whenever the lease's state may have changed.
func (l *Lease) Changed() <-chan struct{} { return l.changed }

// Lost is why the lease was lost for good, or nil.
func (l *Lease) Lost() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

func (l *Lease) notify() {
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

func (l *Lease) set(s LeaseState) {
	l.mu.Lock()
	l.state = s
	l.mu.Unlock()
	l.notify()
}

// Acquire waits until this process holds the lease: at once when nobody
// does, else when the holder's lease lapses or is released. Until then
// the process is a standby. It keeps the lease renewed until Release or
// until it is lost.
func (l *Lease) Acquire(ctx context.Context) error {
	r := l.r
	bo := l.backoff()
	var holder string
	failing := false
	for {
		t0 := time.Now()
		octx, cancel := r.op(ctx)
		ok, err := r.client.SetNX(octx, l.key, l.value, l.ttl).Result()
		cancel()
		r.observe(err)
		wait := l.poll
		switch {
		case err == nil && ok:
			r.log.Info("lease acquired: this process is active", "lease", l.key, "holder", l.Holder(), "ttl", l.ttl.String())
			l.mu.Lock()
			l.state, l.deadline = LeaseActive, t0.Add(l.ttl-l.margin)
			kctx, stop := context.WithCancel(context.WithoutCancel(ctx))
			done := make(chan struct{})
			l.stop, l.done = stop, done
			l.mu.Unlock()
			l.notify()
			go func() {
				defer close(done)
				l.keep(kctx)
			}()
			return nil
		case err == nil:
			failing = false
			bo.Reset()
			octx, cancel := r.op(ctx)
			cur, gerr := r.client.Get(octx, l.key).Result()
			cancel()
			if gerr == nil && cur != holder {
				holder = cur
				r.log.Info("standby: the lease is held by another process; waiting for it to lapse", "lease", l.key, "holder", holderOf(cur))
			}
		default:
			if !failing {
				r.log.Error("standby: cannot reach Redis to take the lease; retrying", "lease", l.key, "error", err)
			}
			failing = true
			wait = bo.NextBackOff()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

func (l *Lease) backoff() *backoff.ExponentialBackOff {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval = max(l.ttl/20, 10*time.Millisecond)
	bo.MaxInterval = max(l.every, bo.InitialInterval)
	return bo
}

// keep renews the lease every third of its TTL, retrying with backoff
// while Redis does not answer.
func (l *Lease) keep(ctx context.Context) {
	r := l.r
	bo := l.backoff()
	next := time.NewTimer(l.every)
	defer next.Stop()
	l.mu.Lock()
	expire := time.NewTimer(time.Until(l.deadline))
	l.mu.Unlock()
	defer expire.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-expire.C:
			l.mu.Lock()
			was := l.state
			l.state = LeaseSuspended
			l.mu.Unlock()
			if was != LeaseSuspended {
				r.log.Error("lease not confirmed by Redis in time: this process stops reading and emitting until it is", "lease", l.key)
			}
			l.notify()
			continue
		case <-next.C:
		}
		t0 := time.Now()
		code, detail, err := l.renew(ctx)
		switch {
		case err != nil:
			next.Reset(bo.NextBackOff())
		case code == 1 || code == 2:
			bo.Reset()
			deadline := t0.Add(l.ttl - l.margin)
			if !time.Now().Before(deadline) {
				// The renewal took longer than the lease's margin (a
				// stalled process): it confirms a deadline already past,
				// so the lease stays as it is and the next renewal goes
				// at once.
				next.Reset(0)
				continue
			}
			l.mu.Lock()
			was := l.state
			if !time.Now().Before(l.deadline) {
				was = LeaseSuspended
			}
			l.state, l.deadline = LeaseActive, deadline
			expire.Reset(time.Until(deadline))
			l.mu.Unlock()
			if was == LeaseSuspended || code == 2 {
				r.log.Info("lease confirmed again: this process resumes", "lease", l.key, "taken_again", code == 2)
				l.notify()
			}
			next.Reset(l.every)
		default:
			var why error
			if code == 0 {
				why = fmt.Errorf("the lease %s is held by %s: %w", l.key, holderOf(detail), ErrFenced)
			} else {
				why = fmt.Errorf("the lease %s lapsed and checkpoint %s was written since by another process: %w", l.key, detail, ErrFenced)
			}
			r.log.Error("lease lost: this process stops", "error", why)
			l.mu.Lock()
			l.state, l.lost = LeaseLost, why
			l.mu.Unlock()
			l.notify()
			return
		}
	}
}

// renew runs renewScript with the checkpoint this process last knew
// committed.
func (l *Lease) renew(ctx context.Context) (int64, string, error) {
	r := l.r
	base := strconv.FormatUint(r.base.Load(), 10)
	octx, cancel := context.WithTimeout(ctx, l.every)
	defer cancel()
	reply, err := renewScript.Run(octx, r.client, []string{l.key, r.keys.head()}, l.value, l.ttl.Milliseconds(), base).Slice()
	r.observe(err)
	if err != nil {
		return 0, "", err
	}
	if len(reply) == 0 {
		return 0, "", errors.New("empty reply from the lease script")
	}
	code, _ := reply[0].(int64)
	detail := ""
	if len(reply) > 1 {
		detail, _ = reply[1].(string)
	}
	return code, detail, nil
}

// Release stops renewing the lease and deletes it if this process still
// holds it, so that a standby takes over at once.
func (l *Lease) Release(ctx context.Context) error {
	l.mu.Lock()
	stop, done, state := l.stop, l.done, l.state
	l.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
	if state == LeaseStandby || state == LeaseLost || state == LeaseReleased {
		return nil
	}
	l.set(LeaseReleased)
	octx, cancel := l.r.op(ctx)
	defer cancel()
	err := releaseScript.Run(octx, l.r.client, []string{l.key}, l.value).Err()
	l.r.observe(err)
	if err != nil {
		return fmt.Errorf("redis %s: releasing the lease: %w", l.r.desc, err)
	}
	l.r.log.Info("lease released", "lease", l.key)
	return nil
}
