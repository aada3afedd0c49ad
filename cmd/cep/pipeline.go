package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/facts"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/ruletest"
	"github.com/cep-project/cep/runtime"
	"github.com/cep-project/cep/source"
)

// engineParams are the engine settings shared by run and test.
type engineParams struct {
	lateness    time.Duration
	late        string
	explainRule string
	limits      correlate.Limits
	maxFuture   time.Duration
	quarantine  string
	// sort processes a replay in event-time order whatever the files'
	// order, in sortBytes of memory and then on disk.
	sort        bool
	sortBytes   sizeFlag
	memoryLimit sizeFlag
	// shards splits the keys of sequence, window and join rules among
	// detectors that step in parallel (correlate.Config.Shards).
	shards int
}

func (p engineParams) config(log *slog.Logger, explain io.Writer, streams []string) correlate.Config {
	if p.limits == (correlate.Limits{}) {
		// Flags set no limits: the config file's defaults.
		p.limits = (&engineConfig{}).limits()
	}
	return correlate.Config{
		AllowedLateness: p.lateness,
		Late:            p.late,
		Streams:         streams,
		Logger:          log,
		Explain:         explain,
		ExplainRule:     p.explainRule,
		Limits:          p.limits,
		MaxFuture:       p.maxFuture,
		Shards:          p.shards,
	}
}

// testEngine runs rule tests through the same runtime as `cep run`. Test
// events are fed through the same decoder and merge as files; a line that
// does not decode fails the test with its position.
func (a *app) testEngine(p engineParams) ruletest.Engine {
	return func(rs []*rules.Rule, inputs []ruletest.Input, explain io.Writer) ([]map[string]any, error) {
		var srcs []source.Source
		var bad []error
		sorted := p.sort
		for i, in := range inputs {
			if in.Listed {
				sorted = false
			}
			var buf bytes.Buffer
			for _, l := range in.Lines {
				buf.Write(l.Data)
				buf.WriteByte('\n')
			}
			lines := in.Lines
			stream := in.Stream
			srcs = append(srcs, &source.Reading{
				// Rule tests decode as cep run does: only what the rules
				// read.
				Spec: source.Spec{Name: fmt.Sprintf("test#%d", i), Stream: stream, Decoder: event.Decoder{Project: rules.Projection(rs, stream)}},
				R:    &buf,
				OnMalformed: func(err error) {
					var le *source.LineError
					if errors.As(err, &le) && le.Line-1 < len(lines) {
						bad = append(bad, fmt.Errorf("%s: event of stream %s: %v", lines[le.Line-1].Pos, stream, le.Err))
						return
					}
					bad = append(bad, err)
				},
			})
		}
		// Every test starts with no facts: tests do not depend on
		// each other's order.
		rules.UseFacts(rs, facts.NewMemory())
		sink := &collectSink{}
		rt, err := runtime.New(runtime.Config{Mode: runtime.Replay, Rules: rs, Engine: p.config(a.log, explain, nil), Sources: srcs, Sink: sink, Log: a.log,
			Sort: sorted, SortBytes: int64(p.sortBytes)})
		if err != nil {
			return nil, err
		}
		res, err := rt.Run(context.Background())
		if err != nil {
			return nil, err
		}
		if len(bad) > 0 {
			return nil, errors.Join(bad...)
		}
		if res.Stats.LateDropped > 0 {
			return nil, fmt.Errorf("%d test event(s) arrived later than the allowed lateness (%s) and were dropped: order the events by time, or raise --allowed-lateness", res.Stats.LateDropped, p.lateness)
		}
		out := make([]map[string]any, 0, len(sink.alerts))
		for _, al := range sink.alerts {
			b, err := json.Marshal(al)
			if err != nil {
				return nil, err
			}
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				return nil, err
			}
			out = append(out, m)
		}
		return out, nil
	}
}

// parseInput reads [STREAM=]FILE. Without a stream, the file's base name
// without extension names it (payments.jsonl → payments), and standard
// input is the stream "events".
func parseInput(s string) (stream, path string) {
	if i := strings.IndexByte(s, '='); i > 0 {
		return s[:i], s[i+1:]
	}
	if s == "-" {
		return "events", "-"
	}
	base := s
	if i := strings.LastIndexAny(base, `/\`); i >= 0 {
		base = base[i+1:]
	}
	if i := strings.IndexByte(base, '.'); i > 0 {
		base = base[:i]
	}
	return base, s
}

// parseFieldFlags reads repeated [STREAM=]FIELD flags into a map; "" is the
// default for every stream.
func parseFieldFlags(vals []string) map[string]string {
	m := map[string]string{}
	for _, v := range vals {
		if i := strings.IndexByte(v, '='); i > 0 {
			m[v[:i]] = v[i+1:]
		} else {
			m[""] = v
		}
	}
	return m
}

func fieldFor(m map[string]string, stream string) string {
	if f, ok := m[stream]; ok {
		return f
	}
	return m[""]
}
