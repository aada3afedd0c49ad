package rulefmt

import (
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cep-project/cep/internal/yamlx"
)

// BaselineSpec is a per-entity baseline as written in a rule.
type BaselineSpec struct {
	Name     string
	Value    Expr
	By       []Expr
	Where    *Expr
	HalfLife time.Duration
	Alpha    float64
	MinCount int
	Pos      yamlx.Pos
}

var baselineKeys = []string{"value", "by", "where", "half_life", "alpha", "min_count"}

func parseBaselines(d *decoder, n *yaml.Node) []BaselineSpec {
	if n.Kind != yaml.MappingNode {
		d.Add(n.Line, n.Column, "baselines must map names to baselines, got %s", kindName(n))
		return nil
	}
	var out []BaselineSpec
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		b := BaselineSpec{Name: k.Value, Pos: yamlx.Pos{File: d.File, Line: k.Line, Col: k.Column}, MinCount: 5}
		if !namePattern.MatchString(b.Name) {
			d.Add(k.Line, k.Column, "baseline name %q must be an identifier", b.Name)
		}
		d.fields(v, "baseline", baselineKeys, func(key string, k, v *yaml.Node) bool {
			switch key {
			case "value":
				b.Value = d.expr(v, "baseline value")
			case "by":
				b.By = d.exprList(v, "baseline by")
			case "where":
				e := d.expr(v, "baseline where")
				b.Where = &e
			case "half_life":
				b.HalfLife = d.duration(v, "half_life")
			case "alpha":
				b.Alpha = d.number(v, "alpha")
			case "min_count":
				b.MinCount = d.integer(v, "min_count", 1)
			default:
				return false
			}
			return true
		})
		if b.Value.Text == "" && v.Kind == yaml.MappingNode {
			d.Add(v.Line, v.Column, "baseline %s needs value", b.Name)
		}
		if b.HalfLife == 0 && b.Alpha == 0 {
			b.HalfLife = 7 * 24 * time.Hour
		}
		out = append(out, b)
	}
	return out
}
