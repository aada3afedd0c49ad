package siem

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/cep-project/cep/internal/seal"
	"github.com/cep-project/cep/internal/secret"
	"github.com/cep-project/cep/sinks/siem/transport"
)

// sender is a sink's delivery: one goroutine takes records from the queue,
// batches them, sends with retries, and spools what the destination does
// not take, draining the spool in order when it recovers.
type sender struct {
	cfg   Config
	log   *slog.Logger
	m     *sinkMetrics
	clock Clock
	tr    transport.Transport
	brk   *breaker
	bo    *backoff.ExponentialBackOff
	sp    spool
	keys  *seal.Keyring // seals the spool's segments; nil for plaintext
	dead  *deadLetter
	st    status
	bar   barrier
	// problems is how many repairs of the spool were reported.
	problems int

	queue    chan transport.Record
	pending  []transport.Record // taken from the queue, waiting for spool room
	skip     map[string]bool
	mu       sync.RWMutex
	stopped  bool
	stopOnce sync.Once
	stopping chan struct{}
	sealed   chan struct{}
	done     chan struct{}
	ctx      context.Context
	cancel   context.CancelFunc
	started  bool

	// stopFails counts failed drain attempts since stopping began.
	stopFails int
	// report is what finish found undelivered.
	report StopReport
}

func newSender(cfg Config, log *slog.Logger, m *sinkMetrics, clock Clock, tr transport.Transport, keys *seal.Keyring) *sender {
	s := &sender{
		cfg:      cfg,
		keys:     keys,
		log:      log,
		m:        m,
		clock:    clock,
		tr:       tr,
		brk:      newBreaker(clock, cfg.Breaker.Failures, cfg.Breaker.Cooldown),
		queue:    make(chan transport.Record, cfg.Queue),
		skip:     map[string]bool{},
		stopping: make(chan struct{}),
		sealed:   make(chan struct{}),
		done:     make(chan struct{}),
	}
	s.st.clock = clock
	s.bo = &backoff.ExponentialBackOff{
		InitialInterval:     cfg.Retry.InitialInterval,
		RandomizationFactor: cfg.Retry.Jitter,
		Multiplier:          cfg.Retry.Multiplier,
		MaxInterval:         cfg.Retry.MaxInterval,
	}
	s.bo.Reset()
	return s
}

// start opens the spool (reporting anything it had to repair) and starts
// the sender, which drains the spool before it takes new alerts.
func (s *sender) start(ctx context.Context) error {
	if s.started {
		return fmt.Errorf("sink %q: already started", s.cfg.Name)
	}
	if err := s.tr.Start(ctx); err != nil {
		return fmt.Errorf("sink %q: %s: %w", s.cfg.Name, s.cfg.Type, err)
	}
	if s.cfg.Spool.Dir != "" {
		sp, _, err := openDiskSpool(s.cfg.Spool.Dir, s.cfg.Spool.MaxBytes, s.keys)
		if err != nil {
			_ = s.tr.Close()
			return fmt.Errorf("sink %q: spool: %w", s.cfg.Name, err)
		}
		s.st.setSpool(sp)
		s.sp = sp
		s.noteRepairs()
		if s.dead, err = openDeadLetter(s.cfg.Spool.Dir, s.keys); err != nil {
			_ = sp.close()
			_ = s.tr.Close()
			return fmt.Errorf("sink %q: dead-letter file: %w", s.cfg.Name, err)
		}
	} else {
		s.sp = newMemSpool(s.cfg.Spool.MaxBytes)
		s.st.setSpool(s.sp)
	}
	if n, b := s.sp.stats(); n > 0 {
		s.log.Info("spool holds undelivered alerts; draining them first", "records", n, "bytes", b)
	}
	s.updateSpoolGauges()
	s.ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.started = true
	go s.run()
	return nil
}

// enqueue hands a record to the sender goroutine; it blocks while the
// queue is full.
func (s *sender) enqueue(ctx context.Context, r transport.Record) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.stopped {
		return ErrStopped
	}
	select {
	case s.queue <- r:
		s.bar.accepted.Add(1)
		return nil
	case <-s.stopping:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stop stops taking alerts, delivers what is in flight — retrying on the
// configured schedule, draining the spool — and closes the destination.
// What is still undelivered when ctx ends, or when a failing destination
// has had its attempts, is spooled; with an in-memory spool it is lost.
// The report says what was left.
func (s *sender) stop(ctx context.Context) StopReport {
	if !s.started {
		if err := s.tr.Close(); err != nil {
			s.log.Warn("transport close", "err", errText(err))
		}
		return StopReport{Sink: s.cfg.Name}
	}
	s.stopOnce.Do(func() {
		close(s.stopping)
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
		close(s.sealed)
	})
	select {
	case <-s.done:
	case <-ctx.Done():
		s.cancel()
		<-s.done
	}
	s.cancel()
	return s.report
}

func (s *sender) isStopping() bool {
	select {
	case <-s.stopping:
		return true
	default:
		return false
	}
}

// run is the sender goroutine. Ordering rule: while the spool holds
// anything, every new alert goes behind it in the spool, and only the
// spool's head is sent; so alerts reach the destination in the order they
// were accepted, across outages and restarts.
func (s *sender) run() {
	defer close(s.done)
	defer s.finish()
	for s.ctx.Err() == nil {
		if n, _ := s.sp.stats(); n > 0 || len(s.pending) > 0 {
			if !s.drainStep() {
				return
			}
			continue
		}
		batch := s.collect()
		if len(batch) == 0 {
			return // stopping, and nothing left
		}
		s.deliverFresh(batch)
	}
}

// collect waits for the first alert, then gathers more until the batch is
// full or MaxWait has passed. It returns an empty batch only when stopping
// with an empty queue.
func (s *sender) collect() []transport.Record {
	max := s.cfg.Batch.MaxAlerts
	var batch []transport.Record
	select {
	case r := <-s.queue:
		batch = append(make([]transport.Record, 0, min(max, 64)), r)
	case <-s.stopping:
		<-s.sealed
		return s.takeQueued(max)
	}
	var timer <-chan time.Time
	for len(batch) < max {
		select {
		case r := <-s.queue:
			batch = append(batch, r)
			continue
		default:
		}
		if timer == nil {
			timer = s.clock.After(s.cfg.Batch.MaxWait)
		}
		select {
		case r := <-s.queue:
			batch = append(batch, r)
		case <-timer:
			return batch
		case <-s.stopping:
			return append(batch, s.takeQueued(max-len(batch))...)
		}
	}
	return batch
}

// takeQueued takes up to n records without waiting.
func (s *sender) takeQueued(n int) []transport.Record {
	var out []transport.Record
	for len(out) < n {
		select {
		case r := <-s.queue:
			out = append(out, r)
		default:
			return out
		}
	}
	return out
}

// deliverFresh sends a batch that has not been spooled, retrying with
// backoff up to MaxAttempts; what is still undelivered then goes to the
// spool.
func (s *sender) deliverFresh(batch []transport.Record) {
	defer s.handedOver(len(batch))
	s.bo.Reset()
	for attempt := 1; ; attempt++ {
		retry, err := s.try(batch, false)
		if err == nil {
			return
		}
		batch = retry
		if attempt >= s.cfg.Retry.MaxAttempts || errors.Is(err, errBreakerOpen) || s.ctx.Err() != nil {
			s.toSpool(batch)
			return
		}
		s.m.retried.Inc()
		// The schedule holds while stopping too: only the end of Stop's
		// time cuts a wait short.
		select {
		case <-s.clock.After(s.bo.NextBackOff()):
		case <-s.ctx.Done():
		}
	}
}

// try makes one send of batch. It accounts for delivered and rejected
// records and returns those to retry, in order, with the error that makes
// them retryable; a nil error means nothing is left to retry.
func (s *sender) try(batch []transport.Record, fromSpool bool) ([]transport.Record, error) {
	if !s.brk.allow() {
		s.m.breakerOpen.Set(1)
		return batch, errBreakerOpen
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	start := s.clock.Now()
	err := s.tr.Send(ctx, batch)
	cancel()
	s.m.latency.Observe(s.clock.Now().Sub(start).Seconds())
	var items *transport.ItemsError
	switch {
	case err == nil:
		s.succeeded(len(batch))
		return nil, nil
	case transport.IsPermanent(err):
		// The destination answered: it is up, the batch is bad.
		s.succeeded(0)
		s.reject(batch, err.Error())
		return nil, nil
	case errors.As(err, &items):
		var retry, rejected []transport.Record
		var reasons []string
		for _, it := range items.Items {
			if it.Retry {
				retry = append(retry, batch[it.Index])
			} else {
				rejected = append(rejected, batch[it.Index])
				reasons = append(reasons, it.Reason)
			}
		}
		delivered := len(batch) - len(retry) - len(rejected)
		s.m.sent.Add(float64(delivered))
		for i, r := range rejected {
			s.reject([]transport.Record{r}, reasons[i])
		}
		if len(retry) == 0 {
			s.succeeded(0)
			return nil, nil
		}
		// Some records were throttled or hit a server error: treat the call
		// as failed, so a persistently overloaded cluster opens the breaker.
		s.failed(err)
		if fromSpool {
			s.markDelivered(batch, items)
		}
		return retry, err
	default:
		s.failed(err)
		return batch, err
	}
}

// markDelivered remembers which records of a spooled batch were delivered
// although others were not, so the drain does not send them twice.
func (s *sender) markDelivered(batch []transport.Record, items *transport.ItemsError) {
	failed := make(map[int]bool, len(items.Items))
	for _, it := range items.Items {
		failed[it.Index] = true
	}
	for i, r := range batch {
		if !failed[i] {
			s.skip[r.ID] = true
		}
	}
}

func (s *sender) succeeded(n int) {
	s.brk.success()
	s.m.breakerOpen.Set(0)
	s.m.sent.Add(float64(n))
}

func (s *sender) failed(err error) {
	s.brk.failure()
	if s.brk.current() == breakerOpen {
		s.m.breakerOpen.Set(1)
	}
	s.st.noteError(err)
	s.log.Warn("send failed", "err", errText(err))
}

func (s *sender) reject(batch []transport.Record, reason string) {
	reason = secret.Redact(reason)
	s.m.fail("rejected", len(batch))
	s.st.noteError(errors.New(reason))
	if s.dead == nil {
		for _, r := range batch {
			s.log.Error("destination rejected alert; no spool dir, so no dead-letter file", "id", r.ID, "reason", reason)
		}
		return
	}
	if err := s.dead.write(s.clock.Now(), s.cfg.Name, batch, reason); err != nil {
		s.log.Error("dead-letter write failed", "err", errText(err), "records", len(batch))
		return
	}
	s.m.deadLetter.Add(float64(len(batch)))
	s.log.Warn("destination rejected alerts; written to the dead-letter file", "records", len(batch), "reason", reason)
}

// toSpool appends records behind whatever is spooled. When the spool is
// full, drop_oldest makes room and counts what it dropped; block keeps the
// records pending, and the sender stops taking new alerts until the drain
// makes room.
func (s *sender) toSpool(batch []transport.Record) {
	if len(batch) == 0 {
		return
	}
	s.pending = append(s.pending, batch...)
	s.flushPending()
}

// flushPending moves pending records into the spool; it reports whether
// all of them fit.
func (s *sender) flushPending() bool {
	if len(s.pending) == 0 {
		return true
	}
	payloads := make([][]byte, len(s.pending))
	need := int64(0)
	for i := range s.pending {
		payloads[i] = marshalRecord(nil, &s.pending[i])
		need += int64(len(payloads[i]) + frameHeader)
	}
	err := s.sp.append(payloads)
	if errors.Is(err, errSpoolFull) && s.cfg.Spool.OnFull == OnFullDropOldest {
		n, derr := s.sp.dropOldest(need)
		if n > 0 {
			s.m.drop("spool_full", n)
			s.st.addDropped(n)
			s.log.Error("spool full: dropped the oldest alerts (on_full: drop_oldest)", "dropped", n)
		}
		if derr != nil {
			err = derr
		} else {
			err = s.sp.append(payloads)
		}
	}
	switch {
	case err == nil:
		s.m.spooled.Add(float64(len(s.pending)))
		s.pending = s.pending[:0]
		s.noteFull(false)
		s.updateSpoolGauges()
		return true
	case errors.Is(err, errSpoolFull):
		s.noteFull(true)
	default:
		s.st.noteError(err)
		s.log.Error("spool write failed; alerts held in memory", "err", errText(err), "records", len(s.pending))
	}
	return false
}

// drainStep makes one attempt on the spool's head, after moving waiting
// alerts into the spool, and waits out the backoff when it fails. It
// returns false when the sink is stopping and should stop draining.
func (s *sender) drainStep() bool {
	s.spoolQueued()
	batch, err := s.peekSpool()
	s.noteRepairs()
	if err != nil {
		s.st.noteError(err)
		s.log.Error("spool read failed", "err", errText(err))
		return s.retryLater()
	}
	if len(batch) == 0 {
		// Everything spooled is delivered; pending alerts, if any, go in
		// now that there is room.
		s.flushPending()
		s.publishHeld()
		return true
	}
	retry, err := s.try(batch, true)
	done := len(batch)
	if err != nil && len(retry) > 0 {
		done = indexOf(batch, retry[0].ID)
	}
	if done > 0 {
		if cerr := s.sp.commit(done); cerr != nil {
			s.st.noteError(cerr)
			s.log.Error("spool commit failed", "err", errText(cerr))
			return s.retryLater()
		}
		for _, r := range batch[:done] {
			delete(s.skip, r.ID)
		}
		s.updateSpoolGauges()
		s.flushPending()
		s.publishHeld()
	}
	if err == nil {
		s.bo.Reset()
		s.stopFails = 0
		return true
	}
	if s.isStopping() {
		// While stopping, the spool's head gets max_attempts tries on the
		// usual schedule (a success starts the count again). Then a disk
		// spool keeps the rest for the next start, and a memory spool
		// reports it lost. A disk spool does not wait for an open breaker.
		s.stopFails++
		_, disk := s.sp.(*diskSpool)
		if s.stopFails >= s.cfg.Retry.MaxAttempts || disk && errors.Is(err, errBreakerOpen) {
			return false
		}
	}
	d := s.bo.NextBackOff()
	if errors.Is(err, errBreakerOpen) {
		// Not allow, which would take the trial that the cooldown, ending
		// since try asked, may just have made ready.
		d = max(s.brk.retryIn(), time.Millisecond)
	} else {
		s.m.retried.Inc()
	}
	return s.wait(d)
}

// peekSpool returns the spool's head batch, committing at once any records
// already delivered out of a partially failed batch.
func (s *sender) peekSpool() ([]transport.Record, error) {
	for {
		payloads, err := s.sp.peek(s.cfg.Batch.MaxAlerts)
		if err != nil {
			return nil, err
		}
		lead := 0
		for lead < len(payloads) {
			r, err := unmarshalRecord(payloads[lead])
			if err != nil || !s.skip[r.ID] {
				break
			}
			delete(s.skip, r.ID)
			lead++
		}
		if lead > 0 {
			if err := s.sp.commit(lead); err != nil {
				return nil, err
			}
			continue
		}
		batch := make([]transport.Record, 0, len(payloads))
		for i, p := range payloads {
			r, err := unmarshalRecord(p)
			if err != nil {
				// A record that passed its checksum but does not decode was
				// written by a different cep; it cannot be sent, so it is
				// dead-lettered rather than blocking the spool forever.
				if i == 0 {
					s.reject([]transport.Record{{ID: "unknown", Body: p}}, "spool record: "+err.Error())
					if err := s.sp.commit(1); err != nil {
						return nil, err
					}
					break
				}
				return batch, nil
			}
			if s.skip[r.ID] {
				break
			}
			r.Body = append([]byte(nil), r.Body...)
			batch = append(batch, r)
		}
		if len(batch) == 0 && len(payloads) > 0 {
			continue
		}
		return batch, nil
	}
}

func indexOf(batch []transport.Record, id string) int {
	for i, r := range batch {
		if r.ID == id {
			return i
		}
	}
	return 0
}

// spoolQueued moves alerts waiting in the queue into the spool, keeping
// producers unblocked while the destination is down, unless the spool is
// full under on_full: block.
func (s *sender) spoolQueued() {
	for len(s.pending) == 0 {
		batch := s.takeQueued(s.cfg.Batch.MaxAlerts)
		if len(batch) == 0 {
			return
		}
		s.toSpool(batch)
		s.handedOver(len(batch))
	}
}

// wait sleeps d while still moving new alerts into the spool. It keeps
// to d when the sink begins stopping, and returns false only when Stop's
// time has run out.
func (s *sender) wait(d time.Duration) bool {
	timer := s.clock.After(d)
	for {
		var queue <-chan transport.Record
		if len(s.pending) == 0 {
			queue = s.queue
		}
		select {
		case <-timer:
			return true
		case <-s.ctx.Done():
			return false
		case r := <-queue:
			batch := append([]transport.Record{r}, s.takeQueued(s.cfg.Batch.MaxAlerts-1)...)
			s.toSpool(batch)
			s.handedOver(len(batch))
		}
	}
}

// finish runs when the sender stops: alerts still in the queue or pending
// are spooled, even beyond max_bytes, because losing them at shutdown would
// be worse than a spool briefly over its bound. A memory spool can only
// report what it loses.
func (s *sender) finish() {
	<-s.sealed
	rep := StopReport{Sink: s.cfg.Name, TimedOut: s.ctx.Err() != nil}
	rest := append(s.pending, s.takeQueued(cap(s.queue))...)
	if len(rest) > 0 {
		payloads := make([][]byte, len(rest))
		for i := range rest {
			payloads[i] = marshalRecord(nil, &rest[i])
		}
		s.sp.unbound()
		if err := s.sp.append(payloads); err != nil {
			s.log.Error("could not spool alerts at shutdown; they are lost", "err", errText(err), "records", len(rest))
			s.m.drop("shutdown", len(rest))
			rep.Lost += len(rest)
		} else {
			s.m.spooled.Add(float64(len(rest)))
		}
		s.pending = nil
	}
	if n, _ := s.sp.stats(); n > 0 {
		if _, mem := s.sp.(*memSpool); mem {
			s.log.Error("stopping with undelivered alerts and no spool dir: they are lost", "records", n, "stop_timeout_reached", rep.TimedOut)
			s.m.drop("shutdown", n)
			rep.Lost += n
		} else {
			rep.Spooled = n
			s.log.Warn("stopping with undelivered alerts in the spool; they are sent on the next start", "records", n, "stop_timeout_reached", rep.TimedOut)
		}
	}
	s.report = rep
	s.updateSpoolGauges()
	if err := s.sp.close(); err != nil {
		s.log.Error("spool close", "err", errText(err))
	}
	if s.dead != nil {
		s.dead.close()
	}
	if err := s.tr.Close(); err != nil {
		s.log.Warn("transport close", "err", errText(err))
	}
}

// retryLater waits max_interval after a spool that could not be read or
// written. While stopping it gives up after max_attempts such waits: the
// spool keeps what it holds.
func (s *sender) retryLater() bool {
	if s.isStopping() {
		s.stopFails++
		if s.stopFails >= s.cfg.Retry.MaxAttempts {
			return false
		}
	}
	return s.wait(s.cfg.Retry.MaxInterval)
}

// noteRepairs logs and counts the spool repairs not reported yet.
func (s *sender) noteRepairs() {
	rec := s.sp.recovery()
	if len(rec.Problems) <= s.problems {
		return
	}
	s.log.Error("spool repaired: unreadable bytes moved to quarantine; the alerts in them are not delivered", "quarantined_bytes", rec.QuarantinedBytes, "files", rec.Quarantined, "problems", rec.Problems[s.problems:])
	s.m.fail("spool_corrupt", len(rec.Problems)-s.problems)
	s.problems = len(rec.Problems)
}

// errText is an error as logs and health show it: with the credentials
// of any URL in it redacted.
func errText(err error) string { return secret.RedactError(err) }

// noteFull records whether the spool is full, logging and setting the
// gauge on each change.
func (s *sender) noteFull(full bool) {
	was := s.st.setFull(full)
	if full && !was {
		n, b := s.sp.stats()
		s.log.Error("spool full: alerts are held back and the pipeline blocks until the destination recovers", "records", n, "bytes", b, "max_bytes", s.cfg.Spool.MaxBytes, "on_full", s.cfg.Spool.OnFull)
	}
	if !full && was {
		s.log.Warn("spool has room again")
	}
	if full {
		s.m.spoolFull.Set(1)
	} else {
		s.m.spoolFull.Set(0)
	}
}

func (s *sender) updateSpoolGauges() {
	n, b := s.sp.stats()
	s.m.spoolCount.Set(float64(n))
	s.m.spoolBytes.Set(float64(b))
}

// health reports the sink's current state.
func (s *sender) health() Health {
	h := s.st.snapshot()
	h.Name = s.cfg.Name
	h.Breaker = s.brk.current().String()
	if s.isStopping() {
		h.State = "stopped"
	}
	return h
}
