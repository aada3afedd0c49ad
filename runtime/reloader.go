package runtime

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/rules"
)

// RuleSet is a complete rule set, loaded, compiled and linted.
type RuleSet struct {
	Rules []*rules.Rule
	// Revision names what the set was read from (Git commits); "" for
	// plain directories.
	Revision string
	// Warnings are lint findings and load warnings: reported, not fatal.
	Warnings []error
}

// Loader loads the rule set afresh. It returns an error (every problem,
// each with file:line:col) when any part of it does not load: a reload
// never runs half a set. With changedOnly (a poll) it may return nil, nil
// when its sources have not changed since the last load.
type Loader func(ctx context.Context, changedOnly bool) (*RuleSet, error)

// Reload outcomes, as metrics and the admin API name them.
const (
	ReloadOK        = "ok"
	ReloadFailed    = "failed"
	ReloadUnchanged = "unchanged"
)

// ReloadStatus is the state of reloading, for the admin API, readiness and
// metrics.
type ReloadStatus struct {
	// OK is false while the last reload failed: the rules that run are
	// older than their sources.
	OK bool `json:"ok"`
	// Revision is what the running rules were read from.
	Revision string `json:"revision,omitempty"`
	// LastAttempt and LastSuccess are wall times; Trigger says what asked
	// for the last attempt (start, poll, SIGHUP, api).
	LastAttempt time.Time `json:"last_attempt"`
	LastSuccess time.Time `json:"last_success"`
	Trigger     string    `json:"trigger,omitempty"`
	// Errors are the last failure's problems, each with file:line:col.
	Errors []string `json:"errors,omitempty"`
	// Report is what the last successful reload did with state.
	Report *correlate.ReloadReport `json:"report,omitempty"`
	// Outcomes counts attempts by outcome (ok, failed, unchanged).
	Outcomes map[string]uint64 `json:"outcomes"`
}

// Swapper replaces the rules that run: a Control, or a scaled-out
// group's tasks.
type Swapper interface {
	Swap(ctx context.Context, rs []*rules.Rule) (SwapResult, error)
}

// Reloader reloads the rules of a running service: it loads a complete
// new set (Loader), and only when all of it loads hands it to the loop
// (Control.Swap). Reloads are serialised; polls, signals and API calls
// may ask at any time.
type Reloader struct {
	Load    Loader
	Control Swapper
	Log     *slog.Logger
	// Swapped, when set, is called with each set once the loop runs it,
	// as the sources' projections follow the rules.
	Swapped func(*RuleSet)

	mu     sync.Mutex // serialises reloads
	statMu sync.Mutex
	status ReloadStatus
}

// Started records the set the service started with.
func (r *Reloader) Started(set *RuleSet) {
	r.statMu.Lock()
	defer r.statMu.Unlock()
	now := time.Now()
	r.status = ReloadStatus{OK: true, Revision: set.Revision, LastAttempt: now, LastSuccess: now, Trigger: "start", Outcomes: map[string]uint64{}}
}

// Status returns a copy of the reload status.
func (r *Reloader) Status() ReloadStatus {
	r.statMu.Lock()
	defer r.statMu.Unlock()
	s := r.status
	s.Errors = append([]string(nil), s.Errors...)
	s.Outcomes = make(map[string]uint64, len(r.status.Outcomes))
	for k, v := range r.status.Outcomes {
		s.Outcomes[k] = v
	}
	return s
}

// ErrUnchanged is returned by a poll that found nothing new.
var ErrUnchanged = errors.New("the rule sources have not changed")

// Reload loads the rules and swaps them in; trigger names the cause for
// logs and the status. A poll (trigger "poll") does nothing when the
// sources have not changed, and returns ErrUnchanged.
func (r *Reloader) Reload(ctx context.Context, trigger string) (*ReloadStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	attempt := time.Now()
	set, err := r.Load(ctx, trigger == "poll")
	if err == nil && set == nil {
		r.record(attempt, trigger, ReloadUnchanged, nil, nil, "")
		return nil, ErrUnchanged
	}
	var res SwapResult
	if err == nil {
		for _, w := range set.Warnings {
			log.Warn("rules reload: " + w.Error())
		}
		res, err = r.Control.Swap(ctx, set.Rules)
	}
	if err != nil {
		r.record(attempt, trigger, ReloadFailed, err, nil, "")
		log.Error("rules reload failed: the rules loaded before keep running", "trigger", trigger, "error", err.Error())
		st := r.Status()
		return &st, err
	}
	r.record(attempt, trigger, ReloadOK, nil, res.Report, set.Revision)
	if r.Swapped != nil {
		r.Swapped(set)
	}
	log.Info("rules reload done", "trigger", trigger, "revision", set.Revision, "checkpoint", res.Checkpoint)
	st := r.Status()
	return &st, nil
}

func (r *Reloader) record(at time.Time, trigger, outcome string, err error, rep *correlate.ReloadReport, revision string) {
	r.statMu.Lock()
	defer r.statMu.Unlock()
	if r.status.Outcomes == nil {
		r.status.Outcomes = map[string]uint64{}
	}
	r.status.Outcomes[outcome]++
	if outcome == ReloadUnchanged {
		return
	}
	r.status.LastAttempt, r.status.Trigger = at, trigger
	switch outcome {
	case ReloadOK:
		r.status.OK, r.status.LastSuccess, r.status.Errors = true, at, nil
		r.status.Report, r.status.Revision = rep, revision
	case ReloadFailed:
		r.status.OK = false
		r.status.Errors = splitErrors(err)
	}
}

// splitErrors lists the problems of a joined error one per entry (an
// entry may span lines: a snippet with a caret).
func splitErrors(err error) []string {
	var out []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			out = append(out, splitErrors(e)...)
		}
		return out
	}
	return []string{strings.TrimRight(err.Error(), "\n")}
}

// Poll reloads every interval until ctx is done; reloads that find
// nothing new are silent.
func (r *Reloader) Poll(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = r.Reload(ctx, "poll")
		}
	}
}
