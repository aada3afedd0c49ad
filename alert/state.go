package alert

import (
	"encoding/json"
	"fmt"
	"time"
)

// The alert pipeline's state (open dedup spans, open groups, throttle
// periods) goes into checkpoints in these JSON forms, each with a version:
// it is small, and JSON keeps it readable when an operator looks.
const stateVersion = 1

type dedupState struct {
	V          int              `json:"v"`
	Open       map[string]int64 `json:"open"`
	SweepAt    int64            `json:"sweep_at"`
	Suppressed uint64           `json:"suppressed"`
}

// MarshalBinary encodes the open spans for a checkpoint.
func (d *Dedup) MarshalBinary() ([]byte, error) {
	return json.Marshal(dedupState{V: stateVersion, Open: d.open, SweepAt: d.sweepAt, Suppressed: d.Suppressed})
}

// UnmarshalBinary restores what MarshalBinary wrote.
func (d *Dedup) UnmarshalBinary(b []byte) error {
	var s dedupState
	if err := unmarshalState(b, &s, &s.V, "dedup"); err != nil {
		return err
	}
	if s.Open == nil {
		s.Open = map[string]int64{}
	}
	d.open, d.sweepAt, d.Suppressed = s.Open, s.SweepAt, s.Suppressed
	return nil
}

type groupJSON struct {
	ID       string    `json:"id"`
	First    Alert     `json:"first"`
	Deadline time.Time `json:"deadline"`
	Count    int       `json:"count"`
	FirstAt  time.Time `json:"first_at"`
	LastAt   time.Time `json:"last_at"`
	MaxPrio  int       `json:"max_prio"`
}

type grouperState struct {
	V      int         `json:"v"`
	Groups []groupJSON `json:"groups"`
}

// MarshalBinary encodes the open groups for a checkpoint.
func (g *Grouper) MarshalBinary() ([]byte, error) {
	s := grouperState{V: stateVersion}
	for _, gr := range g.groups {
		s.Groups = append(s.Groups, groupJSON{ID: gr.id, First: gr.first, Deadline: gr.deadline, Count: gr.count, FirstAt: gr.firstAt, LastAt: gr.lastAt, MaxPrio: gr.maxPrio})
	}
	return json.Marshal(s)
}

// UnmarshalBinary restores what MarshalBinary wrote.
func (g *Grouper) UnmarshalBinary(b []byte) error {
	var s grouperState
	if err := unmarshalState(b, &s, &s.V, "group"); err != nil {
		return err
	}
	g.groups = make(map[string]*group, len(s.Groups))
	for _, x := range s.Groups {
		g.groups[x.ID] = &group{id: x.ID, first: x.First, deadline: x.Deadline, count: x.Count, firstAt: x.FirstAt, lastAt: x.LastAt, maxPrio: x.MaxPrio}
	}
	return nil
}

type periodJSON struct {
	Rule       string    `json:"rule"`
	Start      time.Time `json:"start"`
	Passed     int       `json:"passed"`
	Dropped    int       `json:"dropped"`
	FirstAt    time.Time `json:"first_at"`
	LastAt     time.Time `json:"last_at"`
	MaxSev     Severity  `json:"max_sev"`
	MaxPrio    int       `json:"max_prio"`
	Title      string    `json:"title"`
	Tags       []string  `json:"tags"`
	Version    string    `json:"version"`
	Shadow     bool      `json:"shadow"`
	Suppressed []string  `json:"suppressed"`
}

type throttlerState struct {
	V       int          `json:"v"`
	Periods []periodJSON `json:"periods"`
}

// MarshalBinary encodes the open periods for a checkpoint.
func (t *Throttler) MarshalBinary() ([]byte, error) {
	s := throttlerState{V: stateVersion}
	for _, p := range t.rules {
		s.Periods = append(s.Periods, periodJSON{Rule: p.rule, Start: p.start, Passed: p.passed, Dropped: p.dropped, FirstAt: p.firstAt, LastAt: p.lastAt,
			MaxSev: p.maxSev, MaxPrio: p.maxPrio, Title: p.title, Tags: p.tags, Version: p.version, Shadow: p.shadow, Suppressed: p.suppressed})
	}
	return json.Marshal(s)
}

// UnmarshalBinary restores what MarshalBinary wrote.
func (t *Throttler) UnmarshalBinary(b []byte) error {
	var s throttlerState
	if err := unmarshalState(b, &s, &s.V, "throttle"); err != nil {
		return err
	}
	t.rules = make(map[string]*period, len(s.Periods))
	for _, x := range s.Periods {
		t.rules[x.Rule] = &period{rule: x.Rule, start: x.Start, passed: x.Passed, dropped: x.Dropped, firstAt: x.FirstAt, lastAt: x.LastAt,
			maxSev: x.MaxSev, maxPrio: x.MaxPrio, title: x.Title, tags: x.Tags, version: x.Version, shadow: x.Shadow, suppressed: x.Suppressed}
	}
	return nil
}

func unmarshalState(b []byte, into any, version *int, what string) error {
	if err := json.Unmarshal(b, into); err != nil {
		return fmt.Errorf("%s state: %w", what, err)
	}
	if *version != stateVersion {
		return fmt.Errorf("%s state version %d; this cep reads version %d", what, *version, stateVersion)
	}
	return nil
}
