package rulefmt

import (
	"go.yaml.in/yaml/v3"

	"github.com/cep-project/cep/internal/yamlx"
)

// OnlineModelSpec is a models/NAME.online.yaml file as written: an online
// logistic regression that learns from labelled feedback.
type OnlineModelSpec struct {
	// FeedbackStream carries the labels; AlertID and Label read, from a
	// feedback event, which alert it is about and the label itself.
	FeedbackStream string
	AlertID        Expr
	Label          Expr
	MinLabels      int
	// Fallback names the PMML model that scores until the model is ready;
	// FallbackPos is where it is named.
	Fallback    string
	FallbackPos yamlx.Pos
	// Remember is how many scored alerts' features are kept to learn from
	// when their label arrives; 0 means the default.
	Remember int
	HashBits int
	Alpha    float64
	Beta     float64
	L1       float64
	L2       float64
	// HasFeedback tells whether the feedback key was given.
	HasFeedback bool
	Pos         yamlx.Pos
}

var onlineKeys = []string{"kind", "feedback", "min_labels", "fallback", "remember", "hash_bits", "alpha", "beta", "l1", "l2"}

// ParseOnlineModel decodes an online model file.
func ParseOnlineModel(path string, src []byte) (*OnlineModelSpec, []error) {
	doc, err := parseDocument(path, src)
	if err != nil {
		return nil, []error{err}
	}
	if doc == nil {
		return nil, []error{&yamlx.Error{Pos: yamlx.Pos{File: path}, Msg: "the file is empty"}}
	}
	d := newDecoder(path, src)
	m := &OnlineModelSpec{Pos: yamlx.Pos{File: path, Line: doc.Line, Col: doc.Column}}
	d.fields(doc, "online model", onlineKeys, func(key string, k, v *yaml.Node) bool {
		switch key {
		case "kind":
			d.oneOf(v, "kind", "logistic")
		case "feedback":
			m.HasFeedback = true
			d.fields(v, "feedback", []string{"stream", "alert_id", "label"}, func(key string, k, v *yaml.Node) bool {
				switch key {
				case "stream":
					m.FeedbackStream = d.str(v, "feedback.stream")
				case "alert_id":
					m.AlertID = d.expr(v, "feedback.alert_id")
				case "label":
					m.Label = d.expr(v, "feedback.label")
				default:
					return false
				}
				return true
			})
		case "min_labels":
			m.MinLabels = d.integer(v, "min_labels", 0)
		case "fallback":
			m.Fallback = d.str(v, "fallback")
			m.FallbackPos = yamlx.Pos{File: path, Line: v.Line, Col: v.Column}
		case "remember":
			m.Remember = d.integer(v, "remember", 1)
		case "hash_bits":
			m.HashBits = d.integer(v, "hash_bits", 1)
		case "alpha":
			m.Alpha = d.number(v, "alpha")
		case "beta":
			m.Beta = d.number(v, "beta")
		case "l1":
			m.L1 = d.number(v, "l1")
		case "l2":
			m.L2 = d.number(v, "l2")
		default:
			return false
		}
		return true
	})
	if !m.HasFeedback || m.FeedbackStream == "" || m.AlertID.Text == "" || m.Label.Text == "" {
		d.Add(doc.Line, doc.Column, "an online model needs feedback: {stream, alert_id, label}")
	}
	return m, d.List
}
