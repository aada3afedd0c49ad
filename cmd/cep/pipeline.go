package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/source"
)

// replayResult is what a bounded replay saw.
type replayResult struct {
	stats     correlate.Stats
	malformed uint64
	readErr   error
}

// replay is the one path events take in a bounded run, shared by `cep run
// --input` and `cep test`: readers are merged in event-time order, pushed
// through the engine, and at the end of input event time runs to the end so
// every pending window and timeout fires.
func replay(eng *correlate.Engine, readers []*source.Reader, progress func(*correlate.Engine)) replayResult {
	open := map[string]int{}
	for _, r := range readers {
		open[r.Spec().Stream]++
	}
	m := source.Merge(func(stream string) {
		open[stream]--
		if open[stream] == 0 {
			eng.EndStream(stream)
		}
	}, readers...)
	var zero time.Time
	n := 0
	for {
		ev, err := m.Next()
		if err != nil {
			break
		}
		eng.Push(ev, zero)
		n++
		if progress != nil && n%8192 == 0 {
			progress(eng)
		}
	}
	eng.Close()
	res := replayResult{stats: eng.Stats(), readErr: m.Err()}
	for _, r := range readers {
		res.malformed += r.Counts.Malformed.Load()
	}
	return res
}

func streamNames(readers []*source.Reader) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range readers {
		if s := r.Spec().Stream; !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// engineParams are the engine settings shared by run and test.
type engineParams struct {
	lateness    time.Duration
	late        string
	explainRule string
	limits      correlate.Limits
}

func (p engineParams) config(log *slog.Logger, explain io.Writer, streams []string) correlate.Config {
	return correlate.Config{
		AllowedLateness: p.lateness,
		Late:            p.late,
		Streams:         streams,
		Logger:          log,
		Explain:         explain,
		ExplainRule:     p.explainRule,
		Limits:          p.limits,
	}
}

// testEngine runs rule tests through the same replay as `cep run`. Test
// events are fed through the same decoder and merge as files; a line that
// does not decode fails the test with its position.
func (a *app) testEngine(p engineParams) rules.Engine {
	return func(rs []*rules.Rule, inputs []rules.Input, explain io.Writer) ([]map[string]any, error) {
		var readers []*source.Reader
		var bad []error
		for _, in := range inputs {
			var buf bytes.Buffer
			for _, l := range in.Lines {
				buf.Write(l.Data)
				buf.WriteByte('\n')
			}
			r := source.NewReader(&buf, source.Spec{Name: "test", Stream: in.Stream}, nil)
			lines := in.Lines
			r.OnMalformed = func(err error) {
				var le *source.LineError
				if errors.As(err, &le) && le.Line-1 < len(lines) {
					bad = append(bad, fmt.Errorf("%s: event of stream %s: %v", lines[le.Line-1].Pos, in.Stream, le.Err))
					return
				}
				bad = append(bad, err)
			}
			readers = append(readers, r)
		}
		var alerts []*alert.Alert
		eng, err := correlate.New(rs, p.config(a.log, explain, streamNames(readers)), func(al *alert.Alert) {
			alerts = append(alerts, al)
		})
		if err != nil {
			return nil, err
		}
		res := replay(eng, readers, nil)
		if len(bad) > 0 {
			return nil, errors.Join(bad...)
		}
		if res.stats.LateDropped > 0 {
			return nil, fmt.Errorf("%d test event(s) arrived later than the allowed lateness (%s) and were dropped: order the events by time, or raise --allowed-lateness", res.stats.LateDropped, p.lateness)
		}
		out := make([]map[string]any, 0, len(alerts))
		for _, al := range alerts {
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
