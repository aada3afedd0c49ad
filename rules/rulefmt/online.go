package rulefmt

import (
	"go.yaml.in/yaml/v3"

	"github.com/cep-project/cep/internal/yamlx"
)

// OnlineModelSpec is a models/NAME.online.yaml file as written: an online
// logistic regression that learns from labelled feedback.
type OnlineModelSpec struct {
	Kind     string   `yaml:"kind" yamlx:"oneof=logistic"`
	Feedback Feedback `yaml:"feedback" yamlx:"required"`
	// MinLabels is how many labels the model learns from before it scores.
	MinLabels int `yaml:"min_labels" yamlx:"min=0"`
	// Fallback names the PMML model that scores until the model is ready;
	// FallbackPos is where it is named.
	Fallback    string    `yaml:"fallback"`
	FallbackPos yamlx.Pos `yaml:"-"`
	// Remember is how many scored alerts' features are kept to learn from
	// when their label arrives; 0 means the default.
	Remember int       `yaml:"remember" yamlx:"min=1"`
	HashBits int       `yaml:"hash_bits" yamlx:"min=1"`
	Alpha    float64   `yaml:"alpha"`
	Beta     float64   `yaml:"beta"`
	L1       float64   `yaml:"l1"`
	L2       float64   `yaml:"l2"`
	Pos      yamlx.Pos `yaml:"-" yamlx:"pos"`
}

// Feedback says which stream carries labels, which alert each label is
// for, and the label itself.
type Feedback struct {
	Stream  string `yaml:"stream" yamlx:"required"`
	AlertID Expr   `yaml:"alert_id" yamlx:"required"`
	Label   Expr   `yaml:"label" yamlx:"required"`
}

// ValidateYAMLX implements yamlx.Validator.
func (m *OnlineModelSpec) ValidateYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	if _, v := yamlx.Lookup(n, "fallback"); v != nil {
		m.FallbackPos = d.Pos(v)
	}
}

// ParseOnlineModel decodes an online model file.
func ParseOnlineModel(path string, src []byte) (*OnlineModelSpec, []error) {
	doc, err := yamlx.Parse(path, src, "an online model file holds one model")
	if err != nil {
		return nil, []error{err}
	}
	if doc == nil {
		return nil, []error{&yamlx.Error{Pos: yamlx.Pos{File: path}, Msg: "the file is empty"}}
	}
	d := yamlx.NewDecoder(path, src)
	d.Root = "online model"
	m := &OnlineModelSpec{}
	d.Decode(doc, m)
	return m, d.List
}
