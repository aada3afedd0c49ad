package sigma

import (
	"fmt"
	"sort"
	"strings"

	"github.com/cep-project/cep/rules/mapping"
)

// correlation writes a correlation rule: event_count and value_count as a
// sliding aggregate, temporal as a join, temporal_ordered as a sequence.
func (w *writer) correlation(r *Rule, m *mapping.Mapping, index map[string]*Rule) *Refusal {
	c := r.Correlation
	type part struct {
		name   string
		rule   *Rule
		expr   string
		stream string
		target *mapping.Target
	}
	var parts []part
	for _, ref := range c.Rules {
		base, ok := index[ref]
		if !ok {
			return refuse("correlated rule not found", "rule %q is not among the imported rules", ref)
		}
		if base.Correlation != nil {
			return refuse("correlation of correlations", "rule %q is itself a correlation", ref)
		}
		if base.Refused != nil {
			return refuse("correlated rule refused", "rule %q: %v", ref, base.Refused)
		}
		expr, streams, ref2 := matchCEL(base, m)
		if ref2 != nil {
			return refuse("correlated rule refused", "rule %q: %v", ref, ref2)
		}
		tg, _ := m.Resolve(base.LogSource)
		name := base.Name
		if name == "" {
			name = fmt.Sprintf("r%d", len(parts)+1)
		}
		parts = append(parts, part{name: stepName(name, len(parts)), rule: base, expr: expr, stream: streams[0], target: tg})
	}
	span, ref := durationText(c.Timespan)
	if ref != nil {
		return ref
	}
	// group-by fields (or aliases), placed per correlated rule.
	keyOf := func(p part, field string) (string, *Refusal) {
		if al, ok := c.Aliases[field]; ok {
			f, ok := al[p.rule.Name]
			if !ok {
				f, ok = al[p.rule.ID]
			}
			if !ok {
				return "", refuse("malformed correlation", "alias %s names no field for rule %s", field, p.name)
			}
			field = f
		}
		paths, ok := p.target.Variants[0].Field(field)
		if !ok {
			return "", refuse("fields not in mapping", "group-by field %s is not in rule %s's log source", field, p.name)
		}
		return celPath(paths[0]), nil
	}
	streamSet := map[string]bool{}
	for _, p := range parts {
		streamSet[p.stream] = true
	}
	var streams []string
	for s := range streamSet {
		streams = append(streams, s)
	}
	sort.Strings(streams)
	w.kv("streams", flowList(streams))
	w.kv("missing_fields", "false_if_missing")
	w.kv("lenient_numbers", "true")
	switch c.Type {
	case "event_count", "value_count":
		// One key expression per group-by field: with several rules
		// whose fields differ (aliases), the key reads the field of the
		// rule the event matched.
		var keys []string
		for _, g := range c.GroupBy {
			var alts []string
			same := true
			for i, p := range parts {
				k, ref := keyOf(p, g)
				if ref != nil {
					return ref
				}
				alts = append(alts, k)
				if i > 0 && k != alts[0] {
					same = false
				}
			}
			if same {
				keys = append(keys, alts[0])
				continue
			}
			expr := alts[len(alts)-1]
			for i := len(parts) - 2; i >= 0; i-- {
				expr = "(" + oneLineExpr(parts[i].expr) + ") ? " + alts[i] + " : " + expr
			}
			keys = append(keys, expr)
		}
		if len(keys) > 0 {
			w.kv("by", flowList(keys))
		}
		having, ref := havingOf(c.Condition, "n")
		if ref != nil {
			return ref
		}
		var where []string
		for _, p := range parts {
			where = append(where, "("+p.expr+")")
		}
		w.b.WriteString("aggregate:\n")
		fmt.Fprintf(&w.b, "  window: {type: sliding, size: %s}\n", span)
		w.b.WriteString("  where: |-\n")
		for _, l := range strings.Split(strings.Join(where, "\n|| "), "\n") {
			w.b.WriteString("    " + l + "\n")
		}
		w.b.WriteString("  measures:\n")
		if c.Type == "event_count" {
			w.b.WriteString("    n: count()\n")
		} else {
			if c.Field == "" {
				return refuse("malformed correlation", "value_count needs condition.field")
			}
			k, ref := keyOf(parts[0], c.Field)
			if ref != nil {
				return ref
			}
			fmt.Fprintf(&w.b, "    n: count_distinct(%s)\n", k)
		}
		fmt.Fprintf(&w.b, "  having: %s\n", scalar(having))
	case "temporal", "temporal_ordered":
		if len(parts) < 2 {
			return refuse("malformed correlation", "%s needs at least two rules", c.Type)
		}
		if len(c.Condition) > 0 {
			if v, ok := c.Condition["gte"].(float64); !ok || len(c.Condition) != 1 || int(v) != len(parts) {
				return refuse("temporal condition on fewer rules", "cep imports temporal correlations in which every rule must match (condition gte: %d)", len(parts))
			}
		}
		if len(c.GroupBy) == 0 {
			return refuse("malformed correlation", "%s needs group-by", c.Type)
		}
		if c.Type == "temporal" {
			w.b.WriteString("join:\n")
			fmt.Fprintf(&w.b, "  within: %s\n  type: inner\n  sides:\n", span)
			for _, p := range parts {
				fmt.Fprintf(&w.b, "    - name: %s\n      stream: %s\n      where: |-\n", p.name, scalar(p.stream))
				for _, l := range strings.Split(p.expr, "\n") {
					w.b.WriteString("        " + l + "\n")
				}
				var keys []string
				for _, g := range c.GroupBy {
					k, ref := keyOf(p, g)
					if ref != nil {
						return ref
					}
					keys = append(keys, k)
				}
				fmt.Fprintf(&w.b, "      by: %s\n", flowList(keys))
			}
			return nil
		}
		// temporal_ordered: one key for all steps; the rules' fields
		// must agree (aliases that differ between rules are refused).
		var keys []string
		for _, g := range c.GroupBy {
			var first string
			for i, p := range parts {
				k, ref := keyOf(p, g)
				if ref != nil {
					return ref
				}
				if i == 0 {
					first = k
				} else if k != first {
					return refuse("ordered correlation over different fields", "group-by %s reads %s and %s; a sequence has one key", g, first, k)
				}
			}
			keys = append(keys, first)
		}
		w.kv("by", flowList(keys))
		w.b.WriteString("sequence:\n")
		fmt.Fprintf(&w.b, "  within: %s\n  steps:\n", span)
		for _, p := range parts {
			fmt.Fprintf(&w.b, "    - name: %s\n      where: |-\n", p.name)
			for _, l := range strings.Split(p.expr, "\n") {
				w.b.WriteString("        " + l + "\n")
			}
		}
	}
	return nil
}

func oneLineExpr(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "//") {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, " ")
}

// stepName makes a Sigma rule name into a step or side name.
func stepName(name string, i int) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' && b.Len() > 0:
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	s := b.String()
	if s == "" || s[0] >= '0' && s[0] <= '9' || s[0] == '_' && len(s) == 1 {
		return fmt.Sprintf("r%d", i+1)
	}
	switch s {
	case "event", "key", "window", "in", "true", "false", "null":
		return s + "_"
	}
	return s
}

// havingOf renders a correlation condition over measure n.
func havingOf(cond map[string]any, n string) (string, *Refusal) {
	if len(cond) == 0 {
		return "", refuse("malformed correlation", "the correlation has no condition")
	}
	ops := map[string]string{"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "=="}
	var keys []string
	for k := range cond {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var terms []string
	for _, k := range keys {
		o, ok := ops[k]
		if !ok {
			return "", refuse("malformed correlation", "condition %q (gt, gte, lt, lte, eq)", k)
		}
		terms = append(terms, fmt.Sprintf("%s %s %s", n, o, celNumber(cond[k].(float64))))
	}
	return strings.Join(terms, " && "), nil
}
