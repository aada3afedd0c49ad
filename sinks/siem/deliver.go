package siem

import (
	"context"
	"errors"
	"time"
)

// run is the sender goroutine. Ordering rule: while the spool holds
// anything, every new alert goes behind it in the spool, and only the
// spool's head is sent; so alerts reach the destination in the order they
// were accepted, across outages and restarts.
func (s *Sink) run() {
	defer close(s.done)
	defer s.finish()
	for {
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
func (s *Sink) collect() []record {
	max := s.cfg.Batch.MaxAlerts
	var batch []record
	select {
	case r := <-s.queue:
		batch = append(make([]record, 0, min(max, 64)), r)
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
func (s *Sink) takeQueued(n int) []record {
	var out []record
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
func (s *Sink) deliverFresh(batch []record) {
	defer s.handedOver(len(batch))
	s.bo.Reset()
	for attempt := 1; ; attempt++ {
		retry, err := s.try(batch, false)
		if err == nil {
			return
		}
		batch = retry
		if attempt >= s.cfg.Retry.MaxAttempts || errors.Is(err, errBreakerOpen) || s.isStopping() {
			s.toSpool(batch)
			return
		}
		s.m.retried.Inc()
		select {
		case <-s.clock.After(s.bo.NextBackOff()):
		case <-s.stopping:
		}
	}
}

// try makes one send of batch. It accounts for delivered and rejected
// records and returns those to retry, in order, with the error that makes
// them retryable; a nil error means nothing is left to retry.
func (s *Sink) try(batch []record, fromSpool bool) ([]record, error) {
	if ok, _ := s.brk.allow(); !ok {
		s.m.breakerOpen.Set(1)
		return batch, errBreakerOpen
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	start := s.clock.Now()
	err := s.tr.send(ctx, batch)
	cancel()
	s.m.latency.Observe(s.clock.Now().Sub(start).Seconds())
	var perm *permanentError
	var items *itemsError
	switch {
	case err == nil:
		s.succeeded(len(batch))
		return nil, nil
	case errors.As(err, &perm):
		// The destination answered: it is up, the batch is bad.
		s.succeeded(0)
		s.reject(batch, perm.Error())
		return nil, nil
	case errors.As(err, &items):
		var retry, rejected []record
		var reasons []string
		for _, it := range items.items {
			if it.retry {
				retry = append(retry, batch[it.index])
			} else {
				rejected = append(rejected, batch[it.index])
				reasons = append(reasons, it.reason)
			}
		}
		delivered := len(batch) - len(retry) - len(rejected)
		s.m.sent.Add(float64(delivered))
		for i, r := range rejected {
			s.reject([]record{r}, reasons[i])
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
func (s *Sink) markDelivered(batch []record, items *itemsError) {
	failed := make(map[int]bool, len(items.items))
	for _, it := range items.items {
		failed[it.index] = true
	}
	for i, r := range batch {
		if !failed[i] {
			s.skip[r.ID] = true
		}
	}
}

func (s *Sink) succeeded(n int) {
	s.brk.success()
	s.m.breakerOpen.Set(0)
	s.m.sent.Add(float64(n))
}

func (s *Sink) failed(err error) {
	s.brk.failure()
	if s.brk.current() == breakerOpen {
		s.m.breakerOpen.Set(1)
	}
	s.noteError(err)
	s.log.Warn("send failed", "err", err)
}

func (s *Sink) reject(batch []record, reason string) {
	s.m.fail("rejected", len(batch))
	s.noteError(errors.New(reason))
	if s.dead == nil {
		for _, r := range batch {
			s.log.Error("destination rejected alert; no spool dir, so no dead-letter file", "id", r.ID, "reason", reason)
		}
		return
	}
	if err := s.dead.write(s.clock.Now(), s.cfg.Name, batch, reason); err != nil {
		s.log.Error("dead-letter write failed", "err", err, "records", len(batch))
		return
	}
	s.m.deadLetter.Add(float64(len(batch)))
	s.log.Warn("destination rejected alerts; written to the dead-letter file", "records", len(batch), "reason", reason)
}

// toSpool appends records behind whatever is spooled. When the spool is
// full, drop_oldest makes room and counts what it dropped; block keeps the
// records pending, and the sender stops taking new alerts until the drain
// makes room.
func (s *Sink) toSpool(batch []record) {
	if len(batch) == 0 {
		return
	}
	s.pending = append(s.pending, batch...)
	s.flushPending()
}

// flushPending moves pending records into the spool; it reports whether
// all of them fit.
func (s *Sink) flushPending() bool {
	if len(s.pending) == 0 {
		return true
	}
	payloads := make([][]byte, len(s.pending))
	need := int64(0)
	for i := range s.pending {
		payloads[i] = s.pending[i].marshal(nil)
		need += int64(len(payloads[i]) + frameHeader)
	}
	err := s.sp.append(payloads)
	if errors.Is(err, errSpoolFull) && s.cfg.Spool.OnFull == OnFullDropOldest {
		n, derr := s.sp.dropOldest(need)
		if n > 0 {
			s.m.drop("spool_full", n)
			s.hmu.Lock()
			s.dropped += int64(n)
			s.hmu.Unlock()
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
		s.setFull(false)
		s.updateSpoolGauges()
		return true
	case errors.Is(err, errSpoolFull):
		s.setFull(true)
	default:
		s.noteError(err)
		s.log.Error("spool write failed; alerts held in memory", "err", err, "records", len(s.pending))
	}
	return false
}

// drainStep makes one attempt on the spool's head, after moving waiting
// alerts into the spool, and waits out the backoff when it fails. It
// returns false when the sink is stopping and should stop draining.
func (s *Sink) drainStep() bool {
	s.spoolQueued()
	batch, err := s.peekSpool()
	if err != nil {
		s.noteError(err)
		s.log.Error("spool read failed", "err", err)
		return s.wait(s.cfg.Retry.MaxInterval)
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
			s.noteError(cerr)
			s.log.Error("spool commit failed", "err", cerr)
			return s.wait(s.cfg.Retry.MaxInterval)
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
		return true
	}
	if s.isStopping() {
		return false
	}
	d := s.bo.NextBackOff()
	if errors.Is(err, errBreakerOpen) {
		_, d = s.brk.allow()
		d = max(d, time.Millisecond)
	} else {
		s.m.retried.Inc()
	}
	return s.wait(d)
}

// peekSpool returns the spool's head batch, committing at once any records
// already delivered out of a partially failed batch.
func (s *Sink) peekSpool() ([]record, error) {
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
		batch := make([]record, 0, len(payloads))
		for i, p := range payloads {
			r, err := unmarshalRecord(p)
			if err != nil {
				// A record that passed its checksum but does not decode was
				// written by a different cep; it cannot be sent, so it is
				// dead-lettered rather than blocking the spool forever.
				if i == 0 {
					s.reject([]record{{ID: "unknown", Body: p}}, "spool record: "+err.Error())
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

func indexOf(batch []record, id string) int {
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
func (s *Sink) spoolQueued() {
	for len(s.pending) == 0 {
		batch := s.takeQueued(s.cfg.Batch.MaxAlerts)
		if len(batch) == 0 {
			return
		}
		s.toSpool(batch)
		s.handedOver(len(batch))
	}
}

// wait sleeps d while still moving new alerts into the spool. It returns
// false if the sink began stopping.
func (s *Sink) wait(d time.Duration) bool {
	timer := s.clock.After(d)
	for {
		var queue <-chan record
		if len(s.pending) == 0 {
			queue = s.queue
		}
		select {
		case <-timer:
			return true
		case <-s.stopping:
			return false
		case r := <-queue:
			batch := append([]record{r}, s.takeQueued(s.cfg.Batch.MaxAlerts-1)...)
			s.toSpool(batch)
			s.handedOver(len(batch))
		}
	}
}

// finish runs when the sender stops: alerts still in the queue or pending
// are spooled, even beyond max_bytes, because losing them at shutdown would
// be worse than a spool briefly over its bound. A memory spool can only
// report what it loses.
func (s *Sink) finish() {
	<-s.sealed
	// A healthy destination gets the spool drained while Stop's context
	// allows; a failing one leaves it for the next start.
	for {
		if n, _ := s.sp.stats(); n == 0 || s.ctx.Err() != nil {
			break
		}
		batch, err := s.peekSpool()
		if err != nil || len(batch) == 0 {
			break
		}
		if _, err := s.try(batch, true); err != nil {
			break
		}
		if err := s.sp.commit(len(batch)); err != nil {
			break
		}
	}
	rest := append(s.pending, s.takeQueued(cap(s.queue))...)
	if len(rest) > 0 {
		payloads := make([][]byte, len(rest))
		for i := range rest {
			payloads[i] = rest[i].marshal(nil)
		}
		if ms, ok := s.sp.(*memSpool); ok {
			ms.max = 1<<63 - 1
		} else if ds, ok := s.sp.(*diskSpool); ok {
			ds.max = 1<<63 - 1
		}
		if err := s.sp.append(payloads); err != nil {
			s.log.Error("could not spool alerts at shutdown; they are lost", "err", err, "records", len(rest))
			s.m.drop("shutdown", len(rest))
		} else {
			s.m.spooled.Add(float64(len(rest)))
		}
		s.pending = nil
	}
	if n, _ := s.sp.stats(); n > 0 {
		if _, mem := s.sp.(*memSpool); mem {
			s.log.Error("stopping with undelivered alerts and no spool dir: they are lost", "records", n)
			s.m.drop("shutdown", n)
		} else {
			s.log.Warn("stopping with undelivered alerts in the spool; they are sent on the next start", "records", n)
		}
	}
	s.updateSpoolGauges()
	if err := s.sp.close(); err != nil {
		s.log.Error("spool close", "err", err)
	}
	if s.dead != nil {
		s.dead.close()
	}
	if err := s.tr.close(); err != nil {
		s.log.Warn("transport close", "err", err)
	}
}
