package format

import (
	"strconv"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/internal/jsonx"
)

func init() {
	Register(Kind{Name: JSON, JSON: true, New: func(o Options) (Formatter, error) { return jsonFormat{names: o.FieldNames}, nil }})
}

// jsonFormat writes the alert contract (docs/ARCHITECTURE.md, "Contracts"), identical to
// json.Marshal of the alert.
type jsonFormat struct{ names jsonx.Names }

func (jsonFormat) Name() string { return JSON }
func (jsonFormat) JSON() bool   { return true }

func (f jsonFormat) Append(dst []byte, a *alert.Alert) ([]byte, error) {
	return appendJSON(dst, a, f.names)
}

// AppendJSON writes a in the JSON contract: the fields of alert.Alert in
// declaration order, with its omitempty rules. Webhook templates use it for
// {{json .Alert}}.
func AppendJSON(dst []byte, a *alert.Alert) ([]byte, error) { return appendJSON(dst, a, nil) }

func appendJSON(dst []byte, a *alert.Alert, names jsonx.Names) ([]byte, error) {
	var err error
	dst = append(dst, `{"id":`...)
	dst = jsonx.AppendString(dst, a.ID)
	dst = append(dst, `,"rule":`...)
	dst = jsonx.AppendString(dst, a.Rule)
	dst = append(dst, `,"rule_version":`...)
	dst = jsonx.AppendString(dst, a.RuleVersion)
	dst = append(dst, `,"title":`...)
	dst = jsonx.AppendString(dst, a.Title)
	dst = append(dst, `,"severity":`...)
	dst = jsonx.AppendString(dst, string(a.Severity))
	dst = append(dst, `,"tags":`...)
	dst = jsonx.AppendStrings(dst, a.Tags)
	dst = append(dst, `,"time":`...)
	dst = jsonx.AppendTime(dst, a.Time)
	dst = append(dst, `,"key":`...)
	if dst, err = appendKey(dst, a.Key, names); err != nil {
		return dst, err
	}
	dst = append(dst, `,"events":`...)
	if dst, err = appendEvidenceList(dst, a.Events, "", "", names); err != nil {
		return dst, err
	}
	dst = append(dst, `,"fields":`...)
	if dst, err = jsonx.AppendMapNames(dst, a.Fields, names); err != nil {
		return dst, err
	}
	if dst, err = appendScoreReasons(dst, a); err != nil {
		return dst, err
	}
	dst = appendModel(dst, a.Model, true)
	dst = append(dst, `,"priority":`...)
	dst = strconv.AppendInt(dst, int64(a.Priority), 10)
	if a.Shadow {
		dst = append(dst, `,"shadow":true`...)
	}
	if a.TimedOut {
		dst = append(dst, `,"timed_out":true`...)
	}
	if a.Corrects != "" {
		dst = append(dst, `,"corrects":`...)
		dst = jsonx.AppendString(dst, a.Corrects)
	}
	if a.Count != 0 {
		dst = append(dst, `,"count":`...)
		dst = strconv.AppendInt(dst, int64(a.Count), 10)
	}
	if a.FirstSeen != nil {
		dst = append(dst, `,"first_seen":`...)
		dst = jsonx.AppendTime(dst, *a.FirstSeen)
	}
	if a.LastSeen != nil {
		dst = append(dst, `,"last_seen":`...)
		dst = jsonx.AppendTime(dst, *a.LastSeen)
	}
	return append(dst, '}'), nil
}
