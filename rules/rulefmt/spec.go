package rulefmt

import (
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cep-project/cep/internal/yamlx"
)

// Spec is a rule file as written, before its expressions are compiled.
// Its shape is the contract of DESIGN.md §2.
type Spec struct {
	ID          string
	Title       string
	Description string
	Severity    string
	Status      string
	Tags        []string
	Owner       string
	Streams     []string
	// By holds the key expressions for every stream; ByStream, when the
	// rule names them per stream, holds them for each stream in order.
	By       []Expr
	ByStream []StreamKey
	// Late overrides the engine's late-event policy for this rule.
	Late string

	Match     *Expr
	Sequence  *SequenceSpec
	Aggregate *AggregateSpec
	Join      *JoinSpec

	Alert     AlertSpec
	Score     *ScoreSpec
	Baselines []BaselineSpec
	Tests     []TestSpec

	Pos yamlx.Pos // of the document
	// KindPos is where the detector key (match, sequence, …) is.
	KindPos yamlx.Pos
	// TagPos holds the position of each tag, for lint.
	TagPos []yamlx.Pos
	// Source is the text of the file, for error snippets.
	Source []byte
}

// StreamKey is the key expressions of one stream.
type StreamKey struct {
	Stream string
	Exprs  []Expr
}

// SequenceSpec is a sequence detector as written.
type SequenceSpec struct {
	Within       time.Duration
	WithinType   string
	Until        *Expr
	AfterMatch   string
	EmitTimeouts bool
	Steps        []StepSpec
	Pos          yamlx.Pos
}

// StepSpec is one step of a sequence.
type StepSpec struct {
	Name       string
	Where      *Expr
	Times      string
	Min, Max   int // Max < 0: unbounded
	Contiguity string
	Loop       string
	Greedy     bool
	Until      *Expr
	Not        bool
	For        time.Duration
	Stream     string
	Pos        yamlx.Pos
}

// AggregateSpec is a windowed aggregation as written.
type AggregateSpec struct {
	Window   WindowSpec
	Where    *Expr
	Measures []MeasureSpec
	Having   *Expr
	Top      *TopSpec
	Evidence int
	Pos      yamlx.Pos
}

// WindowSpec is an aggregation window.
type WindowSpec struct {
	Type  string
	Size  time.Duration
	Slide time.Duration
	Gap   time.Duration
	Count int // length windows
}

// MeasureSpec is one measure such as total: sum(event.amount).
type MeasureSpec struct {
	Name   string
	Func   string
	Arg    *Expr
	Approx bool
	Pos    yamlx.Pos
}

// TopSpec asks for a ranked report across keys per window.
type TopSpec struct {
	N  int
	By string
}

// JoinSpec is a stream join as written.
type JoinSpec struct {
	Within time.Duration
	Type   string
	Sides  []SideSpec
	Pos    yamlx.Pos
}

// SideSpec is one side of a join.
type SideSpec struct {
	Name   string
	Stream string
	Where  *Expr
	By     []Expr
	Pos    yamlx.Pos
}

// AlertSpec shapes the alerts of a rule.
type AlertSpec struct {
	Fields   []NamedExpr
	Dedup    time.Duration
	Group    *GroupSpec
	Throttle *ThrottleSpec
}

// GroupSpec folds repeats into one alert. By names what makes alerts
// repeats: key, key.<expr>, fields.<name>, severity or title.
type GroupSpec struct {
	By  []string
	For time.Duration
	Pos yamlx.Pos
	// ByPos holds the position of each By entry.
	ByPos []yamlx.Pos
}

// ThrottleSpec caps the alerts of a rule per span of event time.
type ThrottleSpec struct {
	Max int
	Per time.Duration
}

// ScoreSpec scores alerts with a model.
type ScoreSpec struct {
	Model    string
	Features []NamedExpr
	Pos      yamlx.Pos
}

// statuses are the statuses a rule may have.
var statuses = []string{"experimental", "test", "stable", "deprecated"}

var (
	idPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:/-]*$`)
	namePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	timesForm   = regexp.MustCompile(`^(?:(\d+)|(\d+)\.\.(\d+)|(\d+)\+|\?)$`)
	measureForm = regexp.MustCompile(`^\s*([a-z_]+)\s*\((.*)\)\s*$`)
)

// celReserved are names a step, side or measure may not take because CEL
// or cep already uses them.
var celReserved = map[string]bool{
	"event": true, "true": true, "false": true, "null": true, "in": true,
	"as": true, "break": true, "const": true, "continue": true, "else": true,
	"for": true, "function": true, "if": true, "import": true, "let": true,
	"loop": true, "package": true, "namespace": true, "return": true,
	"var": true, "void": true, "while": true, "key": true, "window": true,
}

var ruleKeys = []string{"id", "title", "description", "severity", "status", "tags", "owner", "streams", "by", "late", "match", "sequence", "aggregate", "join", "alert", "score", "baselines", "tests"}

// parseSpec decodes one rule document strictly.
func parseSpec(d *decoder, doc *yaml.Node) *Spec {
	s := &Spec{Pos: yamlx.Pos{File: d.File, Line: doc.Line, Col: doc.Column}, Status: "stable", Severity: "medium", Source: d.Src}
	var haveID, haveTitle bool
	kinds := 0
	d.fields(doc, "rule", ruleKeys, func(key string, k, v *yaml.Node) bool {
		switch key {
		case "id":
			s.ID, haveID = d.str(v, "id"), true
			if s.ID != "" && !idPattern.MatchString(s.ID) {
				d.Add(v.Line, v.Column, "id %q may hold only letters, digits and _ . : / - (and start with a letter or digit)", s.ID)
			}
		case "title":
			s.Title, haveTitle = d.str(v, "title"), true
		case "description":
			s.Description = d.str(v, "description")
		case "severity":
			s.Severity = d.oneOf(v, "severity", "info", "low", "medium", "high", "critical")
		case "status":
			s.Status = d.oneOf(v, "status", statuses...)
		case "tags":
			s.Tags = d.strList(v, "tags")
			if v.Kind == yaml.SequenceNode {
				for _, c := range v.Content {
					s.TagPos = append(s.TagPos, yamlx.Pos{File: d.File, Line: c.Line, Col: c.Column})
				}
			}
		case "owner":
			s.Owner = d.str(v, "owner")
		case "streams":
			s.Streams = d.strList(v, "streams")
		case "by":
			parseBy(d, v, s)
		case "late":
			s.Late = d.oneOf(v, "late", "drop", "process", "correct")
		case "match":
			kinds++
			e := d.expr(v, "match")
			s.Match = &e
			s.KindPos = yamlx.Pos{File: d.File, Line: k.Line, Col: k.Column}
		case "sequence":
			kinds++
			s.Sequence = parseSequence(d, v)
			s.KindPos = yamlx.Pos{File: d.File, Line: k.Line, Col: k.Column}
		case "aggregate":
			kinds++
			s.Aggregate = parseAggregate(d, v)
			s.KindPos = yamlx.Pos{File: d.File, Line: k.Line, Col: k.Column}
		case "join":
			kinds++
			s.Join = parseJoin(d, v)
			s.KindPos = yamlx.Pos{File: d.File, Line: k.Line, Col: k.Column}
		case "alert":
			parseAlert(d, v, &s.Alert)
		case "score":
			s.Score = parseScore(d, v)
		case "baselines":
			s.Baselines = parseBaselines(d, v)
		case "tests":
			s.Tests = parseTests(d, v)
		default:
			return false
		}
		return true
	})
	if doc.Kind != yaml.MappingNode {
		return s
	}
	if !haveID {
		d.Add(doc.Line, doc.Column, "missing required key \"id\"")
	}
	if !haveTitle {
		d.Add(doc.Line, doc.Column, "missing required key \"title\"")
	}
	switch {
	case kinds == 0:
		d.Add(doc.Line, doc.Column, "a rule needs exactly one of match, sequence, aggregate or join")
	case kinds > 1:
		d.Add(s.KindPos.Line, s.KindPos.Col, "a rule takes only one of match, sequence, aggregate or join")
	}
	return s
}

func parseBy(d *decoder, v *yaml.Node, s *Spec) {
	if v.Kind != yaml.MappingNode {
		s.By = d.exprList(v, "by")
		return
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, val := v.Content[i], v.Content[i+1]
		s.ByStream = append(s.ByStream, StreamKey{Stream: k.Value, Exprs: d.exprList(val, "by."+k.Value)})
	}
	if len(s.ByStream) > 1 {
		n := len(s.ByStream[0].Exprs)
		for _, sk := range s.ByStream[1:] {
			if len(sk.Exprs) != n {
				d.Add(v.Line, v.Column, "by: every stream needs the same number of key expressions (%s has %d, %s has %d)", s.ByStream[0].Stream, n, sk.Stream, len(sk.Exprs))
				break
			}
		}
	}
}

var sequenceKeys = []string{"within", "within_type", "until", "after_match", "emit_timeouts", "steps"}

func parseSequence(d *decoder, n *yaml.Node) *SequenceSpec {
	q := &SequenceSpec{Pos: yamlx.Pos{File: d.File, Line: n.Line, Col: n.Column}, WithinType: "first_and_last", AfterMatch: "skip_past_last"}
	haveSteps := false
	d.fields(n, "sequence", sequenceKeys, func(key string, k, v *yaml.Node) bool {
		switch key {
		case "within":
			q.Within = d.duration(v, "within")
		case "within_type":
			q.WithinType = d.oneOf(v, "within_type", "first_and_last", "previous_and_current")
		case "until":
			e := d.expr(v, "until")
			q.Until = &e
		case "after_match":
			q.AfterMatch = d.str(v, "after_match")
			switch a := q.AfterMatch; {
			case a == "skip_past_last", a == "no_skip", a == "skip_to_next":
			case strings.HasPrefix(a, "skip_to_first:"), strings.HasPrefix(a, "skip_to_last:"):
			default:
				d.Add(v.Line, v.Column, "after_match must be skip_past_last, no_skip, skip_to_next, skip_to_first:<step> or skip_to_last:<step>, got %q", a)
			}
		case "emit_timeouts":
			q.EmitTimeouts = d.boolean(v, "emit_timeouts")
		case "steps":
			haveSteps = true
			if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
				d.Add(v.Line, v.Column, "steps must be a non-empty list")
				return true
			}
			names := map[string]bool{}
			for _, sn := range v.Content {
				st := parseStep(d, sn)
				if st.Name != "" {
					if names[st.Name] {
						d.Add(sn.Line, sn.Column, "step name %q repeats", st.Name)
					}
					names[st.Name] = true
				}
				q.Steps = append(q.Steps, st)
			}
		default:
			return false
		}
		return true
	})
	if !haveSteps && n.Kind == yaml.MappingNode {
		d.Add(n.Line, n.Column, "sequence needs steps")
	}
	return q
}

var stepKeys = []string{"name", "where", "times", "contiguity", "loop", "greedy", "until", "not", "for", "stream"}

func parseStep(d *decoder, n *yaml.Node) StepSpec {
	st := StepSpec{Pos: yamlx.Pos{File: d.File, Line: n.Line, Col: n.Column}, Times: "1", Min: 1, Max: 1, Contiguity: "relaxed", Loop: "relaxed"}
	d.fields(n, "step", stepKeys, func(key string, k, v *yaml.Node) bool {
		switch key {
		case "name":
			st.Name = d.str(v, "step name")
			if st.Name != "" && (!namePattern.MatchString(st.Name) || celReserved[st.Name]) {
				d.Add(v.Line, v.Column, "step name %q must be an identifier (letters, digits, _) and not a reserved word, so that later steps can refer to it", st.Name)
			}
		case "where":
			e := d.expr(v, "where")
			st.Where = &e
		case "times":
			st.Times = d.str(v, "times")
			var ok bool
			if st.Min, st.Max, ok = parseTimes(st.Times); !ok && st.Times != "" {
				d.Add(v.Line, v.Column, "times must be \"1\", \"3\", \"2..4\", \"3+\", \"0+\" or \"?\", got %q", st.Times)
			}
		case "contiguity":
			st.Contiguity = d.oneOf(v, "contiguity", "relaxed", "strict", "any")
		case "loop":
			st.Loop = d.oneOf(v, "loop", "relaxed", "consecutive", "combinations")
		case "greedy":
			st.Greedy = d.boolean(v, "greedy")
		case "until":
			e := d.expr(v, "until")
			st.Until = &e
		case "not":
			st.Not = d.boolean(v, "not")
		case "for":
			st.For = d.duration(v, "for")
		case "stream":
			st.Stream = d.str(v, "stream")
		default:
			return false
		}
		return true
	})
	if n.Kind == yaml.MappingNode && st.Name == "" {
		d.Add(n.Line, n.Column, "a step needs a name")
	}
	return st
}

// parseTimes reads a quantifier: "3" exactly, "2..4", "3+", "0+", "?".
func parseTimes(s string) (min, max int, ok bool) {
	m := timesForm.FindStringSubmatch(s)
	if m == nil {
		return 1, 1, false
	}
	switch {
	case m[1] != "":
		n, _ := strconv.Atoi(m[1])
		return n, n, n > 0
	case m[2] != "":
		a, _ := strconv.Atoi(m[2])
		b, _ := strconv.Atoi(m[3])
		return a, b, b >= a && b > 0
	case m[4] != "":
		a, _ := strconv.Atoi(m[4])
		return a, -1, true
	}
	return 0, 1, true // "?"
}

var aggregateKeys = []string{"window", "where", "measures", "having", "top", "evidence"}

func parseAggregate(d *decoder, n *yaml.Node) *AggregateSpec {
	a := &AggregateSpec{Pos: yamlx.Pos{File: d.File, Line: n.Line, Col: n.Column}}
	haveWindow, haveMeasures := false, false
	d.fields(n, "aggregate", aggregateKeys, func(key string, k, v *yaml.Node) bool {
		switch key {
		case "window":
			haveWindow = true
			parseWindow(d, v, &a.Window)
		case "where":
			e := d.expr(v, "where")
			a.Where = &e
		case "measures":
			haveMeasures = true
			for _, ne := range d.namedExprs(v, "measures") {
				a.Measures = append(a.Measures, parseMeasure(d, ne))
			}
		case "having":
			e := d.expr(v, "having")
			a.Having = &e
		case "top":
			a.Top = &TopSpec{}
			d.fields(v, "top", []string{"n", "by"}, func(key string, k, v *yaml.Node) bool {
				switch key {
				case "n":
					a.Top.N = d.integer(v, "top.n", 1)
				case "by":
					a.Top.By = d.str(v, "top.by")
				default:
					return false
				}
				return true
			})
			if a.Top.N == 0 || a.Top.By == "" {
				d.Add(v.Line, v.Column, "top needs n and by")
			}
		case "evidence":
			a.Evidence = d.integer(v, "evidence", 0)
		default:
			return false
		}
		return true
	})
	if n.Kind == yaml.MappingNode {
		if !haveWindow {
			d.Add(n.Line, n.Column, "aggregate needs a window")
		}
		if !haveMeasures {
			d.Add(n.Line, n.Column, "aggregate needs measures")
		}
	}
	return a
}

func parseWindow(d *decoder, n *yaml.Node, w *WindowSpec) {
	d.fields(n, "window", []string{"type", "size", "slide", "gap"}, func(key string, k, v *yaml.Node) bool {
		switch key {
		case "type":
			w.Type = d.oneOf(v, "window type", "tumbling", "hopping", "sliding", "length", "session")
		case "size":
			// A length window's size is a count, every other a duration.
			if _, err := strconv.Atoi(v.Value); err == nil && v.Kind == yaml.ScalarNode {
				w.Count = d.integer(v, "window size", 1)
			} else {
				w.Size = d.duration(v, "window size")
			}
		case "slide":
			w.Slide = d.duration(v, "window slide")
		case "gap":
			w.Gap = d.duration(v, "window gap")
		default:
			return false
		}
		return true
	})
	if n.Kind != yaml.MappingNode {
		return
	}
	bad := func(format string, args ...any) { d.Add(n.Line, n.Column, format, args...) }
	switch w.Type {
	case "":
		bad("window needs a type: tumbling, hopping, sliding, length or session")
	case "tumbling", "sliding":
		if w.Size == 0 {
			bad("a %s window needs a size duration such as 10m", w.Type)
		}
	case "hopping":
		if w.Size == 0 || w.Slide == 0 {
			bad("a hopping window needs size and slide")
		} else if w.Slide > w.Size {
			bad("a hopping window's slide (%v) must not exceed its size (%v)", w.Slide, w.Size)
		}
	case "length":
		if w.Count == 0 {
			bad("a length window needs a size that counts events, such as 3")
		}
	case "session":
		if w.Gap == 0 {
			bad("a session window needs a gap")
		}
	}
}

var measureFuncs = map[string]bool{
	"count": true, "sum": true, "avg": true, "min": true, "max": true,
	"stddev": true, "count_distinct": true, "approx_count_distinct": true,
}

// parseMeasure splits "sum(event.amount)" into the function and its CEL
// argument, keeping the argument's position in the file.
func parseMeasure(d *decoder, ne NamedExpr) MeasureSpec {
	m := MeasureSpec{Name: ne.Name, Pos: ne.Expr.Pos}
	if !namePattern.MatchString(ne.Name) || celReserved[ne.Name] {
		d.Add(ne.Expr.Pos.Line, ne.Expr.Pos.Col, "measure name %q must be an identifier and not a reserved word", ne.Name)
	}
	sm := measureForm.FindStringSubmatchIndex(ne.Expr.Text)
	if sm == nil {
		d.Add(ne.Expr.Pos.Line, ne.Expr.Pos.Col, "measure %q must be a call such as count(), sum(event.amount) or count_distinct(event.card)", ne.Name)
		return m
	}
	m.Func = ne.Expr.Text[sm[2]:sm[3]]
	if !measureFuncs[m.Func] {
		d.Add(ne.Expr.Pos.Line, ne.Expr.Pos.Col, "unknown measure function %q (count, sum, avg, min, max, stddev, count_distinct, approx_count_distinct)", m.Func)
		return m
	}
	if m.Func == "approx_count_distinct" {
		m.Func, m.Approx = "count_distinct", true
	}
	arg := ne.Expr.Text[sm[4]:sm[5]]
	switch {
	case m.Func == "count" && strings.TrimSpace(arg) != "":
		d.Add(ne.Expr.Pos.Line, ne.Expr.Pos.Col, "count() takes no argument; filter with where")
	case m.Func != "count" && strings.TrimSpace(arg) == "":
		d.Add(ne.Expr.Pos.Line, ne.Expr.Pos.Col, "%s needs an argument, such as %s(event.amount)", m.Func, m.Func)
	case m.Func != "count":
		e := ne.Expr.sub(sm[4], arg)
		m.Arg = &e
	}
	return m
}

// sub returns the part of e that starts at byte offset off.
func (e Expr) sub(off int, text string) Expr {
	s := Expr{Text: text, Pos: e.PosAt(off)}
	s.segs = []segment{{off: 0, line: s.Pos.Line, col: s.Pos.Col}}
	for _, g := range e.segs {
		if g.off > off {
			s.segs = append(s.segs, segment{off: g.off - off, line: g.line, col: g.col})
		}
	}
	return s
}

var joinKeys = []string{"within", "type", "sides"}

func parseJoin(d *decoder, n *yaml.Node) *JoinSpec {
	j := &JoinSpec{Pos: yamlx.Pos{File: d.File, Line: n.Line, Col: n.Column}, Type: "inner"}
	d.fields(n, "join", joinKeys, func(key string, k, v *yaml.Node) bool {
		switch key {
		case "within":
			j.Within = d.duration(v, "within")
		case "type":
			j.Type = d.oneOf(v, "join type", "inner", "left", "full")
		case "sides":
			if v.Kind != yaml.SequenceNode {
				d.Add(v.Line, v.Column, "sides must be a list")
				return true
			}
			names := map[string]bool{}
			for _, sn := range v.Content {
				sd := SideSpec{Pos: yamlx.Pos{File: d.File, Line: sn.Line, Col: sn.Column}}
				d.fields(sn, "join side", []string{"name", "stream", "where", "by"}, func(key string, k, v *yaml.Node) bool {
					switch key {
					case "name":
						sd.Name = d.str(v, "side name")
						if sd.Name != "" && (!namePattern.MatchString(sd.Name) || celReserved[sd.Name]) {
							d.Add(v.Line, v.Column, "side name %q must be an identifier and not a reserved word", sd.Name)
						}
					case "stream":
						sd.Stream = d.str(v, "side stream")
					case "where":
						e := d.expr(v, "where")
						sd.Where = &e
					case "by":
						sd.By = d.exprList(v, "by")
					default:
						return false
					}
					return true
				})
				if sn.Kind == yaml.MappingNode && sd.Name == "" {
					d.Add(sn.Line, sn.Column, "a join side needs a name")
				}
				if names[sd.Name] && sd.Name != "" {
					d.Add(sn.Line, sn.Column, "side name %q repeats", sd.Name)
				}
				names[sd.Name] = true
				j.Sides = append(j.Sides, sd)
			}
		default:
			return false
		}
		return true
	})
	if n.Kind == yaml.MappingNode {
		if j.Within == 0 {
			d.Add(n.Line, n.Column, "join needs within")
		}
		if len(j.Sides) < 2 {
			d.Add(n.Line, n.Column, "join needs at least two sides")
		}
	}
	return j
}

var alertKeys = []string{"fields", "dedup", "group", "throttle"}

func parseAlert(d *decoder, n *yaml.Node, a *AlertSpec) {
	d.fields(n, "alert", alertKeys, func(key string, k, v *yaml.Node) bool {
		switch key {
		case "fields":
			a.Fields = d.namedExprs(v, "alert.fields")
		case "dedup":
			a.Dedup = d.duration(v, "dedup")
		case "group":
			a.Group = &GroupSpec{Pos: yamlx.Pos{File: d.File, Line: v.Line, Col: v.Column}}
			d.fields(v, "alert.group", []string{"by", "for"}, func(key string, k, v *yaml.Node) bool {
				switch key {
				case "by":
					a.Group.By = d.strList(v, "group.by")
					for _, c := range append([]*yaml.Node{v}, v.Content...) {
						if c.Kind == yaml.ScalarNode {
							a.Group.ByPos = append(a.Group.ByPos, yamlx.Pos{File: d.File, Line: c.Line, Col: c.Column})
						}
					}
				case "for":
					a.Group.For = d.duration(v, "group.for")
				default:
					return false
				}
				return true
			})
			if a.Group.For == 0 {
				d.Add(v.Line, v.Column, "alert.group needs for")
			}
		case "throttle":
			a.Throttle = &ThrottleSpec{}
			d.fields(v, "alert.throttle", []string{"max", "per"}, func(key string, k, v *yaml.Node) bool {
				switch key {
				case "max":
					a.Throttle.Max = d.integer(v, "throttle.max", 1)
				case "per":
					a.Throttle.Per = d.duration(v, "throttle.per")
				default:
					return false
				}
				return true
			})
			if a.Throttle.Max == 0 || a.Throttle.Per == 0 {
				d.Add(v.Line, v.Column, "alert.throttle needs max and per")
			}
		default:
			return false
		}
		return true
	})
}

func parseScore(d *decoder, n *yaml.Node) *ScoreSpec {
	s := &ScoreSpec{Pos: yamlx.Pos{File: d.File, Line: n.Line, Col: n.Column}}
	d.fields(n, "score", []string{"model", "features"}, func(key string, k, v *yaml.Node) bool {
		switch key {
		case "model":
			s.Model = d.str(v, "score.model")
		case "features":
			s.Features = d.namedExprs(v, "score.features")
		default:
			return false
		}
		return true
	})
	if n.Kind == yaml.MappingNode && s.Model == "" {
		d.Add(n.Line, n.Column, "score needs a model")
	}
	return s
}
