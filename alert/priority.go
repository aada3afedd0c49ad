package alert

import "math"

// Priority weighs an alert's severity, model score and the criticality of
// the entity it concerns into 0–100, so sinks and analysts can sort and
// route by one number. The formula is
//
//	priority = round(100 × clamp(SeverityWeight×sev + ScoreWeight×score + CriticalityWeight×crit))
//
// where sev is the severity's base (info 0.1, low 0.25, medium 0.5, high
// 0.75, critical 0.95), score the model score clamped to [0, 1] and crit the
// entity criticality in [0, 1]. A term that is absent gives its weight to
// severity, so an unscored alert ranks by severity alone.
type Priority struct {
	SeverityWeight    float64 `yaml:"severity_weight"`
	ScoreWeight       float64 `yaml:"score_weight"`
	CriticalityWeight float64 `yaml:"criticality_weight"`
}

// DefaultPriorityWeights are used when cep.yaml sets none.
var DefaultPriorityWeights = Priority{SeverityWeight: 0.5, ScoreWeight: 0.35, CriticalityWeight: 0.15}

var severityBase = map[Severity]float64{Info: 0.1, Low: 0.25, Medium: 0.5, High: 0.75, Critical: 0.95}

// Of computes the priority; score and criticality may be nil.
func (p Priority) Of(sev Severity, score, criticality *float64) int {
	w := p.SeverityWeight
	sum := 0.0
	if score != nil {
		sum += p.ScoreWeight * clamp01(*score)
	} else {
		w += p.ScoreWeight
	}
	if criticality != nil {
		sum += p.CriticalityWeight * clamp01(*criticality)
	} else {
		w += p.CriticalityWeight
	}
	sum += w * severityBase[sev]
	return int(math.Round(100 * clamp01(sum)))
}

// DefaultPriority is the priority under DefaultPriorityWeights.
func DefaultPriority(sev Severity, score *float64) int {
	return DefaultPriorityWeights.Of(sev, score, nil)
}

func clamp01(f float64) float64 {
	switch {
	case math.IsNaN(f) || f < 0:
		return 0
	case f > 1:
		return 1
	}
	return f
}
