package nfa

import (
	"fmt"
	"strings"
)

// SkipKind names an after-match skip strategy.
type SkipKind uint8

// The after-match skip strategies, as in Flink's AfterMatchSkipStrategy.
const (
	// SkipPastLast discards every partial match that started before the
	// match ended. It is cep's default (Flink's default is NoSkip): one alert
	// per incident.
	SkipPastLast SkipKind = iota
	// NoSkip keeps every partial match: every possible match is emitted.
	NoSkip
	// SkipToNext discards every partial match that started with the match's
	// first event or before it.
	SkipToNext
	// SkipToFirst discards every partial match that started before the first
	// event of the named step in the match.
	SkipToFirst
	// SkipToLast discards every partial match that started before the last
	// event of the named step in the match.
	SkipToLast
)

// SkipStrategy is an after-match skip strategy. Step names the step of
// SkipToFirst and SkipToLast.
type SkipStrategy struct {
	Kind SkipKind
	Step string
}

func (s SkipStrategy) String() string {
	switch s.Kind {
	case SkipPastLast:
		return "skip_past_last"
	case NoSkip:
		return "no_skip"
	case SkipToNext:
		return "skip_to_next"
	case SkipToFirst:
		return "skip_to_first:" + s.Step
	case SkipToLast:
		return "skip_to_last:" + s.Step
	}
	return fmt.Sprintf("skip(%d)", s.Kind)
}

// ParseSkipStrategy parses the rule syntax of `after_match`: skip_past_last,
// no_skip, skip_to_next, skip_to_first:<step> or skip_to_last:<step>. The
// empty string is the default, skip_past_last.
func ParseSkipStrategy(s string) (SkipStrategy, error) {
	t := strings.TrimSpace(s)
	switch t {
	case "", "skip_past_last":
		return SkipStrategy{Kind: SkipPastLast}, nil
	case "no_skip":
		return SkipStrategy{Kind: NoSkip}, nil
	case "skip_to_next":
		return SkipStrategy{Kind: SkipToNext}, nil
	}
	name, step, found := strings.Cut(t, ":")
	step = strings.TrimSpace(step)
	if found {
		switch strings.TrimSpace(name) {
		case "skip_to_first":
			if step != "" {
				return SkipStrategy{Kind: SkipToFirst, Step: step}, nil
			}
		case "skip_to_last":
			if step != "" {
				return SkipStrategy{Kind: SkipToLast, Step: step}, nil
			}
		}
		if step == "" && (name == "skip_to_first" || name == "skip_to_last") {
			return SkipStrategy{}, fmt.Errorf("after_match %q: name the step after the colon, as in %s:probe", s, name)
		}
	}
	return SkipStrategy{}, fmt.Errorf("after_match %q: want skip_past_last, no_skip, skip_to_next, skip_to_first:<step> or skip_to_last:<step>", s)
}
