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
// Its shape is a contract (docs/ARCHITECTURE.md, "Contracts").
type Spec struct {
	ID          string   `yaml:"id" yamlx:"required"`
	Title       string   `yaml:"title" yamlx:"required"`
	Description string   `yaml:"description"`
	Severity    string   `yaml:"severity" yamlx:"oneof=info|low|medium|high|critical"`
	Status      string   `yaml:"status" yamlx:"oneof=experimental|test|stable|deprecated"`
	Tags        []string `yaml:"tags"`
	Owner       string   `yaml:"owner"`
	// Streams the rule reads; empty means every stream.
	Streams []string `yaml:"streams"`
	// By holds the key expressions for every stream; ByStream, when the
	// rule names them per stream, holds them for each stream in order.
	By       []Expr      `yaml:"by" yamlx:"custom"`
	ByStream []StreamKey `yaml:"-"`
	// Late overrides the engine's late-event policy for this rule.
	Late string `yaml:"late" yamlx:"oneof=drop|process|correct"`
	// MissingFields says what a test of a field the event lacks is:
	// "error" (CEL's answer: the condition fails and the error is
	// counted) or "false_if_missing" (false, and its negation true, as in
	// Sigma and EQL). Empty means the compiler's default.
	MissingFields string `yaml:"missing_fields" yamlx:"oneof=error|false_if_missing"`
	// LenientNumbers lets a string field holding a number compare with
	// number literals as that number ("4624" == 4624).
	LenientNumbers bool `yaml:"lenient_numbers"`

	// Exactly one detector: Match, Sequence, Aggregate or Join.
	Match     *Expr          `yaml:"match"`
	Sequence  *SequenceSpec  `yaml:"sequence"`
	Aggregate *AggregateSpec `yaml:"aggregate"`
	Join      *JoinSpec      `yaml:"join"`

	Alert AlertSpec  `yaml:"alert"`
	Score *ScoreSpec `yaml:"score"`
	// Remember are the facts the rule records when it produces an alert.
	Remember  []RememberSpec `yaml:"remember"`
	Baselines Baselines      `yaml:"baselines"`
	Tests     Tests          `yaml:"tests"`

	// Pos is the position of the document.
	Pos yamlx.Pos `yaml:"-" yamlx:"pos"`
	// KindPos is where the detector key (match, sequence, …) is.
	KindPos yamlx.Pos `yaml:"-"`
	// TagPos holds the position of each tag, for lint.
	TagPos []yamlx.Pos `yaml:"-"`
	// Source is the text of the file, for error snippets.
	Source []byte `yaml:"-"`
}

// StreamKey is the key expressions of one stream.
type StreamKey struct {
	Stream string
	Exprs  []Expr
}

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

// identifier reports whether name can be a CEL variable of the rule.
func identifier(name string) bool { return namePattern.MatchString(name) && !celReserved[name] }

// SetDefaults implements yamlx.Defaulter.
func (s *Spec) SetDefaults() { s.Status, s.Severity = "stable", "medium" }

// DecodeKeyYAMLX decodes by: a list of key expressions, or a mapping of
// stream names to lists.
func (s *Spec) DecodeKeyYAMLX(d *yamlx.Decoder, key string, v *yaml.Node) {
	if v.Kind != yaml.MappingNode {
		d.Decode(v, &s.By)
		return
	}
	d.Mapping(v, "a mapping", func(stream string, k, val *yaml.Node) {
		sk := StreamKey{Stream: stream}
		d.Decode(val, &sk.Exprs)
		s.ByStream = append(s.ByStream, sk)
	})
	if len(s.ByStream) > 1 {
		n := len(s.ByStream[0].Exprs)
		for _, sk := range s.ByStream[1:] {
			if len(sk.Exprs) != n {
				d.Errorf(v, "by: every stream needs the same number of key expressions (%s has %d, %s has %d)", s.ByStream[0].Stream, n, sk.Stream, len(sk.Exprs))
				break
			}
		}
	}
}

// ValidateYAMLX implements yamlx.Validator.
func (s *Spec) ValidateYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	s.Source = d.Src
	if _, v := yamlx.Lookup(n, "id"); v != nil && s.ID != "" && !idPattern.MatchString(s.ID) {
		d.Errorf(v, "id %q may hold only letters, digits and _ . : / - (and start with a letter or digit)", s.ID)
	}
	if _, v := yamlx.Lookup(n, "tags"); v != nil && v.Kind == yaml.SequenceNode {
		for _, c := range v.Content {
			s.TagPos = append(s.TagPos, d.Pos(c))
		}
	}
	kinds := 0
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch k := n.Content[i]; k.Value {
		case "match", "sequence", "aggregate", "join":
			kinds++
			s.KindPos = d.Pos(k)
		}
	}
	switch {
	case kinds == 0:
		d.Errorf(n, "a rule needs exactly one of match, sequence, aggregate or join")
	case kinds > 1:
		d.Add(s.KindPos.Line, s.KindPos.Col, "a rule takes only one of match, sequence, aggregate or join")
	}
	// Checked here, not when the detector is built, so that lint, test
	// and run refuse the same rule at the same place.
	if _, v := yamlx.Lookup(n, "late"); v != nil && s.Late == "correct" && s.Aggregate != nil {
		switch t := s.Aggregate.Window.Type; t {
		case "sliding", "length":
			d.Errorf(v, "late: correct needs a window that closes (tumbling, hopping or session); %s windows are evaluated at each event, so use late: process (a late event counts when it arrives) or drop", t)
		}
	}
	if _, agg := yamlx.Lookup(n, "aggregate"); agg != nil && s.Aggregate != nil && s.Aggregate.Top != nil {
		if _, top := yamlx.Lookup(agg, "top"); top != nil {
			switch t := s.Aggregate.Window.Type; t {
			case "tumbling", "hopping":
			default:
				d.Errorf(top, "top needs windows shared by all keys (tumbling or hopping), not %s", t)
			}
		}
	}
	if _, seq := yamlx.Lookup(n, "sequence"); seq != nil && s.Sequence != nil && s.Sequence.WithinType == "previous_and_current" && s.Sequence.Within == 0 {
		if _, v := yamlx.Lookup(seq, "within_type"); v != nil {
			d.Errorf(v, "within_type previous_and_current needs a within")
		}
	}
}

// SequenceSpec is a sequence detector as written.
type SequenceSpec struct {
	Within       time.Duration `yaml:"within" yamlx:"positive"`
	WithinType   string        `yaml:"within_type" yamlx:"oneof=first_and_last|previous_and_current"`
	Until        *Expr         `yaml:"until"`
	AfterMatch   string        `yaml:"after_match"`
	EmitTimeouts bool          `yaml:"emit_timeouts"`
	Steps        []StepSpec    `yaml:"steps"`
	Pos          yamlx.Pos     `yaml:"-" yamlx:"pos"`
}

// SetDefaults implements yamlx.Defaulter.
func (q *SequenceSpec) SetDefaults() {
	q.WithinType, q.AfterMatch = "first_and_last", "skip_past_last"
}

// ValidateYAMLX implements yamlx.Validator.
func (q *SequenceSpec) ValidateYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	if _, v := yamlx.Lookup(n, "after_match"); v != nil {
		switch a := q.AfterMatch; {
		case a == "skip_past_last", a == "no_skip", a == "skip_to_next":
		case strings.HasPrefix(a, "skip_to_first:"), strings.HasPrefix(a, "skip_to_last:"):
		default:
			d.Errorf(v, "%s must be skip_past_last, no_skip, skip_to_next, skip_to_first:<step> or skip_to_last:<step>, got %q", d.PathOf("after_match"), a)
		}
	}
	_, steps := yamlx.Lookup(n, "steps")
	switch {
	case steps == nil:
		d.Errorf(n, "sequence needs steps")
		return
	case len(q.Steps) == 0 && steps.Kind != yaml.SequenceNode:
		return // reported as not a list
	case len(q.Steps) == 0:
		d.Errorf(steps, "%s must be a non-empty list", d.PathOf("steps"))
		return
	}
	names := map[string]bool{}
	for _, st := range q.Steps {
		if st.Name == "" {
			continue
		}
		if names[st.Name] {
			d.Add(st.Pos.Line, st.Pos.Col, "step name %q repeats", st.Name)
		}
		names[st.Name] = true
	}
}

// StepSpec is one step of a sequence.
type StepSpec struct {
	Name  string `yaml:"name"`
	Where *Expr  `yaml:"where"`
	// Times is the quantifier as written; Min and Max are its bounds
	// (Max < 0: unbounded).
	Times      string        `yaml:"times"`
	Min        int           `yaml:"-"`
	Max        int           `yaml:"-"`
	Contiguity string        `yaml:"contiguity" yamlx:"oneof=relaxed|strict|any"`
	Loop       string        `yaml:"loop" yamlx:"oneof=relaxed|consecutive|combinations"`
	Greedy     bool          `yaml:"greedy"`
	Until      *Expr         `yaml:"until"`
	Not        bool          `yaml:"not"`
	For        time.Duration `yaml:"for" yamlx:"positive"`
	Stream     string        `yaml:"stream"`
	Pos        yamlx.Pos     `yaml:"-" yamlx:"pos"`
}

// SetDefaults implements yamlx.Defaulter.
func (st *StepSpec) SetDefaults() {
	st.Times, st.Min, st.Max, st.Contiguity, st.Loop = "1", 1, 1, "relaxed", "relaxed"
}

// ValidateYAMLX implements yamlx.Validator.
func (st *StepSpec) ValidateYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	if _, v := yamlx.Lookup(n, "name"); v != nil && st.Name != "" && !identifier(st.Name) {
		d.Errorf(v, "step name %q must be an identifier (letters, digits, _) and not a reserved word, so that later steps can refer to it", st.Name)
	}
	if _, v := yamlx.Lookup(n, "times"); v != nil {
		var ok bool
		if st.Min, st.Max, ok = parseTimes(st.Times); !ok && st.Times != "" {
			d.Errorf(v, "%s must be \"1\", \"3\", \"2..4\", \"3+\", \"0+\" or \"?\", got %q", d.PathOf("times"), st.Times)
		}
	}
	if st.Name == "" {
		d.Errorf(n, "a step needs a name")
	}
}

// parseTimes reads a quantifier: "3" exactly, "2..4", "3+", "0+", "?".
func parseTimes(s string) (min, max int, ok bool) {
	m := timesForm.FindStringSubmatch(s)
	if m == nil {
		return 1, 1, false
	}
	switch {
	case m[1] != "":
		n, err := strconv.Atoi(m[1])
		return n, n, err == nil && n > 0
	case m[2] != "":
		a, err1 := strconv.Atoi(m[2])
		b, err2 := strconv.Atoi(m[3])
		return a, b, err1 == nil && err2 == nil && b >= a && b > 0
	case m[4] != "":
		a, err := strconv.Atoi(m[4])
		return a, -1, err == nil
	}
	return 0, 1, true // "?"
}

// AggregateSpec is a windowed aggregation as written.
type AggregateSpec struct {
	Window   WindowSpec `yaml:"window" yamlx:"required"`
	Where    *Expr      `yaml:"where"`
	Measures Measures   `yaml:"measures" yamlx:"required"`
	Having   *Expr      `yaml:"having"`
	Top      *TopSpec   `yaml:"top"`
	Evidence int        `yaml:"evidence" yamlx:"min=0"`
	Pos      yamlx.Pos  `yaml:"-" yamlx:"pos"`
}

// WindowSpec is an aggregation window.
type WindowSpec struct {
	Type string `yaml:"type" yamlx:"oneof=tumbling|hopping|sliding|length|session"`
	// Size is a duration, except for length windows, whose size counts
	// events (Count).
	Size  time.Duration `yaml:"size" yamlx:"custom"`
	Slide time.Duration `yaml:"slide" yamlx:"positive"`
	Gap   time.Duration `yaml:"gap" yamlx:"positive"`
	Count int           `yaml:"-"`
}

// DecodeKeyYAMLX decodes size: a count of events or a duration.
func (w *WindowSpec) DecodeKeyYAMLX(d *yamlx.Decoder, key string, v *yaml.Node) {
	if _, err := strconv.Atoi(v.Value); err == nil && v.Kind == yaml.ScalarNode {
		if w.Count, _ = strconv.Atoi(v.Value); w.Count < 1 {
			d.Errorf(v, "%s must be an integer of at least 1, got %q", d.Path(), v.Value)
		}
		return
	}
	var size positiveDuration
	d.Decode(v, &size)
	w.Size = time.Duration(size)
}

// positiveDuration is a duration that must be above zero.
type positiveDuration time.Duration

// UnmarshalYAMLX implements yamlx.Unmarshaler.
func (p *positiveDuration) UnmarshalYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.Errorf(n, "%s must be a duration, got %s", d.Path(), yamlx.KindName(n))
		return
	}
	v, err := yamlx.ParseDuration(n.Value)
	switch {
	case err != nil:
		d.Errorf(n, "%s: %v", d.Path(), err)
	case v <= 0:
		d.Errorf(n, "%s must be positive, got %q", d.Path(), n.Value)
	default:
		*p = positiveDuration(v)
	}
}

// ValidateYAMLX implements yamlx.Validator.
func (w *WindowSpec) ValidateYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	bad := func(format string, args ...any) { d.Errorf(n, format, args...) }
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

// MeasureSpec is one measure such as total: sum(event.amount).
type MeasureSpec struct {
	Name   string
	Func   string
	Arg    *Expr
	Approx bool
	Pos    yamlx.Pos
}

// Measures are the measures of an aggregate, in the order written.
type Measures []MeasureSpec

var measureFuncs = map[string]bool{
	"count": true, "sum": true, "avg": true, "min": true, "max": true,
	"stddev": true, "count_distinct": true, "approx_count_distinct": true,
}

// UnmarshalYAMLX splits each "sum(event.amount)" into the function and its
// CEL argument, keeping the argument's position in the file.
func (ms *Measures) UnmarshalYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	var named NamedExprs
	named.UnmarshalYAMLX(d, n)
	for _, ne := range named {
		*ms = append(*ms, parseMeasure(d, ne))
	}
}

func parseMeasure(d *yamlx.Decoder, ne NamedExpr) MeasureSpec {
	m := MeasureSpec{Name: ne.Name, Pos: ne.Expr.Pos}
	at := func(format string, args ...any) { d.Add(ne.Expr.Pos.Line, ne.Expr.Pos.Col, format, args...) }
	if !identifier(ne.Name) {
		at("measure name %q must be an identifier and not a reserved word", ne.Name)
	}
	sm := measureForm.FindStringSubmatchIndex(ne.Expr.Text)
	if sm == nil {
		if ne.Expr.Text != "" {
			at("measure %q must be a call such as count(), sum(event.amount) or count_distinct(event.card)", ne.Name)
		}
		return m
	}
	m.Func = ne.Expr.Text[sm[2]:sm[3]]
	if !measureFuncs[m.Func] {
		at("unknown measure function %q (count, sum, avg, min, max, stddev, count_distinct, approx_count_distinct)", m.Func)
		return m
	}
	if m.Func == "approx_count_distinct" {
		m.Func, m.Approx = "count_distinct", true
	}
	arg := ne.Expr.Text[sm[4]:sm[5]]
	switch {
	case m.Func == "count" && strings.TrimSpace(arg) != "":
		at("count() takes no argument; filter with where")
	case m.Func != "count" && strings.TrimSpace(arg) == "":
		at("%s needs an argument, such as %s(event.amount)", m.Func, m.Func)
	case m.Func != "count":
		e := ne.Expr.sub(sm[4], arg)
		m.Arg = &e
	}
	return m
}

// TopSpec asks for a ranked report across keys per window.
type TopSpec struct {
	N  int    `yaml:"n" yamlx:"min=1"`
	By string `yaml:"by"`
}

// ValidateYAMLX implements yamlx.Validator.
func (t *TopSpec) ValidateYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	if t.N == 0 || t.By == "" {
		d.Errorf(n, "top needs n and by")
	}
}

// JoinSpec is a stream join as written.
type JoinSpec struct {
	Within time.Duration `yaml:"within" yamlx:"positive"`
	Type   string        `yaml:"type" yamlx:"oneof=inner|left|full"`
	Sides  []SideSpec    `yaml:"sides"`
	Pos    yamlx.Pos     `yaml:"-" yamlx:"pos"`
}

// SetDefaults implements yamlx.Defaulter.
func (j *JoinSpec) SetDefaults() { j.Type = "inner" }

// ValidateYAMLX implements yamlx.Validator.
func (j *JoinSpec) ValidateYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	names := map[string]bool{}
	for _, sd := range j.Sides {
		if names[sd.Name] && sd.Name != "" {
			d.Add(sd.Pos.Line, sd.Pos.Col, "side name %q repeats", sd.Name)
		}
		names[sd.Name] = true
	}
	if j.Within == 0 {
		d.Errorf(n, "join needs within")
	}
	if len(j.Sides) < 2 {
		d.Errorf(n, "join needs at least two sides")
	}
}

// SideSpec is one side of a join.
type SideSpec struct {
	Name   string    `yaml:"name"`
	Stream string    `yaml:"stream"`
	Where  *Expr     `yaml:"where"`
	By     []Expr    `yaml:"by"`
	Pos    yamlx.Pos `yaml:"-" yamlx:"pos"`
}

// ValidateYAMLX implements yamlx.Validator.
func (sd *SideSpec) ValidateYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	if _, v := yamlx.Lookup(n, "name"); v != nil && sd.Name != "" && !identifier(sd.Name) {
		d.Errorf(v, "side name %q must be an identifier and not a reserved word", sd.Name)
	}
	if sd.Name == "" {
		d.Errorf(n, "a join side needs a name")
	}
}

// AlertSpec shapes the alerts of a rule.
type AlertSpec struct {
	Fields   NamedExprs    `yaml:"fields"`
	Dedup    time.Duration `yaml:"dedup" yamlx:"positive"`
	Group    *GroupSpec    `yaml:"group"`
	Throttle *ThrottleSpec `yaml:"throttle"`
	// Emit false makes a rule that only remembers: its matches record
	// their facts and produce no alert. Default true.
	Emit *bool `yaml:"emit"`
}

// GroupSpec folds repeats into one alert. By names what makes alerts
// repeats: key, key.<expr>, fields.<name>, severity or title.
type GroupSpec struct {
	By  []string      `yaml:"by"`
	For time.Duration `yaml:"for" yamlx:"positive"`
	Pos yamlx.Pos     `yaml:"-" yamlx:"pos"`
	// ByPos holds the position of each By entry.
	ByPos []yamlx.Pos `yaml:"-"`
}

// ValidateYAMLX implements yamlx.Validator.
func (g *GroupSpec) ValidateYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	if _, v := yamlx.Lookup(n, "by"); v != nil {
		for _, c := range append([]*yaml.Node{v}, v.Content...) {
			if c.Kind == yaml.ScalarNode {
				g.ByPos = append(g.ByPos, d.Pos(c))
			}
		}
	}
	if g.For == 0 {
		d.Errorf(n, "alert.group needs for")
	}
}

// ThrottleSpec caps the alerts of a rule per span of event time.
type ThrottleSpec struct {
	Max int           `yaml:"max" yamlx:"min=1"`
	Per time.Duration `yaml:"per" yamlx:"positive"`
}

// ValidateYAMLX implements yamlx.Validator.
func (t *ThrottleSpec) ValidateYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	if t.Max == 0 || t.Per == 0 {
		d.Errorf(n, "alert.throttle needs max and per")
	}
}

// ScoreSpec scores alerts with a model.
type ScoreSpec struct {
	Model    string     `yaml:"model"`
	Features NamedExprs `yaml:"features"`
	Pos      yamlx.Pos  `yaml:"-" yamlx:"pos"`
}

// ValidateYAMLX implements yamlx.Validator.
func (s *ScoreSpec) ValidateYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	if s.Model == "" {
		d.Errorf(n, "score needs a model")
	}
}
