package format

import (
	"strconv"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/internal/jsonx"
)

// ECSVersion is the Elastic Common Schema version the ECS format declares.
const ECSVersion = "8.17.0"

func init() {
	Register(Kind{Name: ECS, JSON: true, New: func(o Options) (Formatter, error) { return ecsFormat{newDocument(o)}, nil }})
}

// ecsFormat writes an Elastic Common Schema 8.x alert document:
// event.kind "alert" (ECS reserves "signal" for Elastic's own detection
// engine), ECS rule.* and threat.* (from ATT&CK tags), event.risk_score from
// the priority, and everything ECS has no field for under the custom cep.*
// namespace, as ECS recommends for custom fields.
type ecsFormat struct{ document }

func (ecsFormat) Name() string { return ECS }

// ecsSeverity follows Elastic's detection rules, whose severities map to
// these numbers, so dashboards built for Elastic alerts sort cep alerts
// alongside.
func ecsSeverity(s alert.Severity) int { return bySeverity(s, &[5]int{0, 21, 47, 73, 99}) }

func (f ecsFormat) Append(dst []byte, a *alert.Alert) ([]byte, error) {
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
	dst = append(dst, `,"cep":{"alert":{`...)
	dst, err := cepBlock{model: true, evidence: true, names: f.names}.append(dst, a)
	if err != nil {
		return dst, err
	}
	return append(dst, "}}}"...), nil
}

// appendECSThreat writes threat.* in ECS's flattened form: each leaf is an
// array, as in ECS's field reference (threat.technique.id and so on).
func appendECSThreat(dst []byte, at attack) []byte {
	dst = append(dst, `,"threat":{"framework":"MITRE ATT&CK"`...)
	if len(at.tactics) > 0 {
		dst = append(dst, `,"tactic":{"id":`...)
		dst = appendEach(dst, at.tactics, func(t tactic) string { return t.id })
		dst = append(dst, `,"name":`...)
		dst = appendEach(dst, at.tactics, func(t tactic) string { return t.name })
		dst = append(dst, `,"reference":`...)
		dst = appendEach(dst, at.tactics, func(t tactic) string { return tacticURL(t.id) })
		dst = append(dst, '}')
	}
	if len(at.techniques) > 0 {
		dst = append(dst, `,"technique":{"id":`...)
		dst = jsonx.AppendStrings(dst, at.techniques)
		dst = append(dst, `,"reference":`...)
		dst = appendEach(dst, at.techniques, techniqueURL)
		if len(at.subtechniques) > 0 {
			dst = append(dst, `,"subtechnique":{"id":`...)
			dst = jsonx.AppendStrings(dst, at.subtechniques)
			dst = append(dst, `,"reference":`...)
			dst = appendEach(dst, at.subtechniques, techniqueURL)
			dst = append(dst, '}')
		}
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// appendEach writes a JSON array of one string per element.
func appendEach[T any](dst []byte, xs []T, str func(T) string) []byte {
	dst = append(dst, '[')
	for i, x := range xs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonx.AppendString(dst, str(x))
	}
	return append(dst, ']')
}
