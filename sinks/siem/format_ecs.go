package siem

import (
	"strconv"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/internal/jsonx"
)

// ECSVersion is the Elastic Common Schema version the ECS format declares.
const ECSVersion = "8.17.0"

// ecsFormat writes an Elastic Common Schema 8.x alert document:
// event.kind "alert" (ECS reserves "signal" for Elastic's own detection
// engine), ECS rule.* and threat.* (from ATT&CK tags), event.risk_score from
// the priority, and everything ECS has no field for under the custom cep.*
// namespace, as ECS recommends for custom fields.
type ecsFormat struct{ product Product }

func (ecsFormat) Name() string { return FormatECS }
func (ecsFormat) JSON() bool   { return true }

// ecsSeverity follows Elastic's detection rules, whose severities map to
// these numbers, so dashboards built for Elastic alerts sort cep alerts
// alongside.
func ecsSeverity(s alert.Severity) int {
	switch s {
	case alert.Low:
		return 21
	case alert.Medium:
		return 47
	case alert.High:
		return 73
	case alert.Critical:
		return 99
	}
	return 0
}

func (f ecsFormat) Append(dst []byte, a *alert.Alert) ([]byte, error) {
	var err error
	dst = append(dst, `{"@timestamp":`...)
	dst = jsonx.AppendTime(dst, a.Time.UTC())
	dst = append(dst, `,"ecs":{"version":"`+ECSVersion+`"}`...)
	dst = append(dst, `,"message":`...)
	dst = jsonx.AppendString(dst, a.Title)
	dst = append(dst, `,"event":{"kind":"alert","category":["intrusion_detection"],"type":["info"],"id":`...)
	dst = jsonx.AppendString(dst, a.ID)
	dst = append(dst, `,"severity":`...)
	dst = strconv.AppendInt(dst, int64(ecsSeverity(a.Severity)), 10)
	dst = append(dst, `,"risk_score":`...)
	dst = strconv.AppendInt(dst, int64(a.Priority), 10)
	dst = append(dst, `,"risk_score_norm":`...)
	dst = strconv.AppendInt(dst, int64(a.Priority), 10)
	if a.FirstSeen != nil {
		dst = append(dst, `,"start":`...)
		dst = jsonx.AppendTime(dst, a.FirstSeen.UTC())
	}
	if a.LastSeen != nil {
		dst = append(dst, `,"end":`...)
		dst = jsonx.AppendTime(dst, a.LastSeen.UTC())
	}
	if len(a.Reasons) > 0 {
		dst = append(dst, `,"reason":`...)
		dst = jsonx.AppendString(dst, a.Reasons[0])
	}
	dst = append(dst, `,"module":"cep","dataset":"cep.alerts"}`...)
	dst = append(dst, `,"rule":{"id":`...)
	dst = jsonx.AppendString(dst, a.Rule)
	dst = append(dst, `,"name":`...)
	dst = jsonx.AppendString(dst, a.Title)
	dst = append(dst, `,"version":`...)
	dst = jsonx.AppendString(dst, a.RuleVersion)
	dst = append(dst, `,"ruleset":"cep"}`...)
	dst = append(dst, `,"observer":{"vendor":`...)
	dst = jsonx.AppendString(dst, f.product.Vendor)
	dst = append(dst, `,"product":`...)
	dst = jsonx.AppendString(dst, f.product.Name)
	dst = append(dst, `,"version":`...)
	dst = jsonx.AppendString(dst, f.product.Version)
	dst = append(dst, '}')
	if len(a.Tags) > 0 {
		dst = append(dst, `,"tags":`...)
		dst = jsonx.AppendStrings(dst, a.Tags)
	}
	if at, ok := parseAttack(a.Tags); ok {
		dst = appendECSThreat(dst, at)
	}
	dst = append(dst, `,"cep":{"alert":{"severity":`...)
	dst = jsonx.AppendString(dst, string(a.Severity))
	dst = append(dst, `,"priority":`...)
	dst = strconv.AppendInt(dst, int64(a.Priority), 10)
	if a.Score != nil {
		dst = append(dst, `,"score":`...)
		if dst, err = jsonx.AppendFloat(dst, *a.Score, 64); err != nil {
			return dst, err
		}
	}
	if len(a.Reasons) > 0 {
		dst = append(dst, `,"reasons":`...)
		dst = jsonx.AppendStrings(dst, a.Reasons)
	}
	if a.Model != nil {
		dst = append(dst, `,"model":{"name":`...)
		dst = jsonx.AppendString(dst, a.Model.Name)
		dst = append(dst, `,"version":`...)
		dst = jsonx.AppendString(dst, a.Model.Version)
		dst = append(dst, '}')
	}
	dst = append(dst, `,"key":`...)
	if dst, err = appendKey(dst, a.Key); err != nil {
		return dst, err
	}
	dst = append(dst, `,"fields":`...)
	if dst, err = jsonx.AppendMap(dst, a.Fields); err != nil {
		return dst, err
	}
	dst = append(dst, `,"evidence":`...)
	if dst, err = appendEvidenceList(dst, a.Events); err != nil {
		return dst, err
	}
	dst = appendSuppression(dst, a)
	return append(dst, "}}}"...), nil
}

// appendSuppression writes the optional marks of an alert that the JSON
// contract omits when empty.
func appendSuppression(dst []byte, a *alert.Alert) []byte {
	if a.Count > 0 {
		dst = append(dst, `,"count":`...)
		dst = strconv.AppendInt(dst, int64(a.Count), 10)
	}
	if a.Corrects != "" {
		dst = append(dst, `,"corrects":`...)
		dst = jsonx.AppendString(dst, a.Corrects)
	}
	if a.Shadow {
		dst = append(dst, `,"shadow":true`...)
	}
	if a.TimedOut {
		dst = append(dst, `,"timed_out":true`...)
	}
	return dst
}

// appendECSThreat writes threat.* in ECS's flattened form: each leaf is an
// array, as in ECS's field reference (threat.technique.id and so on).
func appendECSThreat(dst []byte, at attack) []byte {
	dst = append(dst, `,"threat":{"framework":"MITRE ATT&CK"`...)
	if len(at.tactics) > 0 {
		dst = append(dst, `,"tactic":{"id":[`...)
		for i, t := range at.tactics {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonx.AppendString(dst, t.id)
		}
		dst = append(dst, `],"name":[`...)
		for i, t := range at.tactics {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonx.AppendString(dst, t.name)
		}
		dst = append(dst, `],"reference":[`...)
		for i, t := range at.tactics {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonx.AppendString(dst, tacticURL(t.id))
		}
		dst = append(dst, "]}"...)
	}
	if len(at.techniques) > 0 {
		dst = append(dst, `,"technique":{"id":`...)
		dst = jsonx.AppendStrings(dst, at.techniques)
		dst = append(dst, `,"reference":[`...)
		for i, t := range at.techniques {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonx.AppendString(dst, techniqueURL(t))
		}
		dst = append(dst, ']')
		if len(at.subtechniques) > 0 {
			dst = append(dst, `,"subtechnique":{"id":`...)
			dst = jsonx.AppendStrings(dst, at.subtechniques)
			dst = append(dst, `,"reference":[`...)
			for i, t := range at.subtechniques {
				if i > 0 {
					dst = append(dst, ',')
				}
				dst = jsonx.AppendString(dst, techniqueURL(t))
			}
			dst = append(dst, "]}"...)
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}
