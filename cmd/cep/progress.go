package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"text/tabwriter"

	"golang.org/x/term"

	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/source"
)

// progress draws one status line on a terminal during long replays: events
// read, events per second and alerts. It draws nothing when stderr is not a
// terminal (CI logs, pipes) unless asked to.
type progress struct {
	w     io.Writer
	on    bool
	srcs  []source.Source
	start time.Time
	last  time.Time
	drawn bool
}

func newProgress(w io.Writer, mode string, srcs []source.Source) *progress {
	on := mode == "always"
	if mode == "auto" {
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			on = true
		}
	}
	now := time.Now()
	return &progress{w: w, on: on, srcs: srcs, start: now, last: now}
}

func (p *progress) update(eng *correlate.Engine) {
	if !p.on {
		return
	}
	now := time.Now()
	if now.Sub(p.last) < 250*time.Millisecond {
		return
	}
	p.last = now
	p.draw(eng.Stats(), now)
}

func (p *progress) draw(s correlate.Stats, now time.Time) {
	var read, bad uint64
	for _, src := range p.srcs {
		read += src.Counts().Events.Load()
		bad += src.Counts().Malformed.Load()
	}
	secs := now.Sub(p.start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(s.Events) / secs
	}
	fmt.Fprintf(p.w, "\r%d events read (%d malformed), %.0f events/s, %d alerts   ", read, bad, rate, s.Alerts)
	p.drawn = true
}

func (p *progress) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

// ruleTable prints a table of what each rule did: events evaluated,
// alerts (shadow ones of experimental rules apart), events shed by state
// limits, and evaluation errors. Rules are in load order.
func ruleTable(w io.Writer, rs []*rules.Rule, stats map[string]correlate.RuleStats) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "rule\tevaluated\talerts\tshadow\tshed\teval errors\t")
	for _, r := range rs {
		s := stats[r.ID]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t\n", r.ID, s.Evaluated, s.Alerts, s.Shadow, s.Shed, r.Health.Errors())
	}
	_ = tw.Flush()
}
