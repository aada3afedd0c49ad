package rulefmt

import (
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cep-project/cep/internal/yamlx"
)

// BaselineSpec is a per-entity baseline as written in a rule.
type BaselineSpec struct {
	// Name is the baseline's key under baselines; Pos is the key's
	// position.
	Name     string        `yaml:"-"`
	Value    Expr          `yaml:"value"`
	By       []Expr        `yaml:"by"`
	Where    *Expr         `yaml:"where"`
	HalfLife time.Duration `yaml:"half_life" yamlx:"positive"`
	Alpha    float64       `yaml:"alpha"`
	MinCount int           `yaml:"min_count" yamlx:"min=1"`
	Pos      yamlx.Pos     `yaml:"-"`
}

// SetDefaults implements yamlx.Defaulter.
func (b *BaselineSpec) SetDefaults() { b.MinCount = 5 }

// ValidateYAMLX implements yamlx.Validator.
func (b *BaselineSpec) ValidateYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	if b.Value.Text == "" {
		d.Errorf(n, "baseline %s needs value", b.Name)
	}
	if b.HalfLife == 0 && b.Alpha == 0 {
		b.HalfLife = 7 * 24 * time.Hour
	}
}

// Baselines are the baselines of a rule, in the order written.
type Baselines []BaselineSpec

// UnmarshalYAMLX reads the mapping of names to baselines.
func (bs *Baselines) UnmarshalYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	d.Mapping(n, "a mapping of names to baselines", func(name string, k, v *yaml.Node) {
		b := BaselineSpec{Name: name, Pos: d.Pos(k)}
		if !namePattern.MatchString(name) {
			d.Errorf(k, "baseline name %q must be an identifier", name)
		}
		d.Decode(v, &b)
		*bs = append(*bs, b)
	})
}
