package format

import (
	"strconv"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/internal/jsonx"
)

// OCSFVersion is the OCSF schema version the OCSF format declares.
const OCSFVersion = "1.3.0"

// The Detection Finding class is written as constants in Append: category
// Findings (2), class 2004, activity Create (1), and type_uid
// class_uid*100 + activity_id = 200401.

func init() {
	Register(Kind{Name: OCSF, JSON: true, New: func(o Options) (Formatter, error) { return ocsfFormat{newDocument(o)}, nil }})
}

// ocsfFormat writes an OCSF Detection Finding with every required
// attribute, the ATT&CK tags as finding_info.attacks, the evidence events
// as evidences[].data, and the alert's own values in unmapped.
type ocsfFormat struct{ document }

func (ocsfFormat) Name() string { return OCSF }

// ocsfSeverity maps to severity_id: 1 Informational … 5 Critical, and 0
// Unknown.
func ocsfSeverity(s alert.Severity) (int, string) {
	if r := s.Rank(); r >= 0 {
		return r + 1, ocsfSeverityNames[r]
	}
	return 0, "Unknown"
}

var ocsfSeverityNames = [...]string{"Informational", "Low", "Medium", "High", "Critical"}

func (f ocsfFormat) Append(dst []byte, a *alert.Alert) ([]byte, error) {
	var err error
	sevID, sevName := ocsfSeverity(a.Severity)
	dst = append(dst, `{"activity_id":1,"activity_name":"Create","category_uid":2,"category_name":"Findings","class_uid":2004,"class_name":"Detection Finding","type_uid":200401,"type_name":"Detection Finding: Create","severity_id":`...)
	dst = strconv.AppendInt(dst, int64(sevID), 10)
	dst = append(dst, `,"severity":"`...)
	dst = append(dst, sevName...)
	dst = append(dst, `","time":`...)
	dst = appendMillis(dst, a)
	dst = append(dst, `,"status_id":1,"status":"New","message":`...)
	dst = jsonx.AppendString(dst, a.Title)
	dst = append(dst, `,"risk_score":`...)
	dst = strconv.AppendInt(dst, int64(a.Priority), 10)
	if a.Score != nil {
		dst = append(dst, `,"confidence_score":`...)
		dst = strconv.AppendInt(dst, int64(*a.Score*100+0.5), 10)
	}
	if a.Count > 0 {
		dst = append(dst, `,"count":`...)
		dst = strconv.AppendInt(dst, int64(a.Count), 10)
	}
	dst = append(dst, `,"metadata":{"version":"`+OCSFVersion+`","product":{"name":`...)
	dst = jsonx.AppendString(dst, f.product.Name)
	dst = append(dst, `,"vendor_name":`...)
	dst = jsonx.AppendString(dst, f.product.Vendor)
	dst = append(dst, `,"version":`...)
	dst = jsonx.AppendString(dst, f.product.Version)
	dst = append(dst, `},"uid":`...)
	dst = jsonx.AppendString(dst, a.ID)
	if len(a.Tags) > 0 {
		dst = append(dst, `,"labels":`...)
		dst = jsonx.AppendStrings(dst, a.Tags)
	}
	dst = append(dst, `},"finding_info":{"uid":`...)
	dst = jsonx.AppendString(dst, a.ID)
	dst = append(dst, `,"title":`...)
	dst = jsonx.AppendString(dst, a.Title)
	if len(a.Reasons) > 0 {
		dst = append(dst, `,"desc":`...)
		dst = jsonx.AppendString(dst, a.Reasons[0])
	}
	dst = append(dst, `,"analytic":{"uid":`...)
	dst = jsonx.AppendString(dst, a.Rule)
	dst = append(dst, `,"name":`...)
	dst = jsonx.AppendString(dst, a.Rule)
	dst = append(dst, `,"type_id":1,"type":"Rule","version":`...)
	dst = jsonx.AppendString(dst, a.RuleVersion)
	dst = append(dst, `},"created_time":`...)
	dst = appendMillis(dst, a)
	if a.FirstSeen != nil {
		dst = append(dst, `,"first_seen_time":`...)
		dst = strconv.AppendInt(dst, a.FirstSeen.UnixMilli(), 10)
	}
	if a.LastSeen != nil {
		dst = append(dst, `,"last_seen_time":`...)
		dst = strconv.AppendInt(dst, a.LastSeen.UnixMilli(), 10)
	}
	if a.Corrects != "" {
		dst = append(dst, `,"related_events":[{"uid":`...)
		dst = jsonx.AppendString(dst, a.Corrects)
		dst = append(dst, `}]`...)
	}
	if at, ok := parseAttack(a.Tags); ok {
		dst = appendOCSFAttacks(dst, at)
	}
	dst = append(dst, `},"evidences":`...)
	if dst, err = appendEvidenceList(dst, a.Events, `{"data":`, "}", f.names); err != nil {
		return dst, err
	}
	dst = append(dst, `,"unmapped":{`...)
	if dst, err = (cepBlock{names: f.names}).append(dst, a); err != nil {
		return dst, err
	}
	return append(dst, "}}"...), nil
}

// appendOCSFAttacks writes one MITRE ATT&CK object per technique (with its
// sub-techniques), each carrying the first tactic, and one per tactic when
// no technique is tagged.
func appendOCSFAttacks(dst []byte, at attack) []byte {
	dst = append(dst, `,"attacks":[`...)
	n := 0
	for _, tech := range at.techniques {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		dst = append(dst, `{"technique":{"uid":`...)
		dst = jsonx.AppendString(dst, tech)
		dst = append(dst, '}')
		for _, sub := range at.subtechniques {
			if sub[:5] == tech {
				dst = append(dst, `,"sub_technique":{"uid":`...)
				dst = jsonx.AppendString(dst, sub)
				dst = append(dst, '}')
				break
			}
		}
		if len(at.tactics) > 0 {
			dst = append(dst, ',')
			dst = appendOCSFTactic(dst, at.tactics[0])
		}
		dst = append(dst, '}')
	}
	if n == 0 {
		for i, t := range at.tactics {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '{')
			dst = appendOCSFTactic(dst, t)
			dst = append(dst, '}')
		}
	}
	return append(dst, ']')
}

// appendOCSFTactic writes "tactic":{"uid":…,"name":…}.
func appendOCSFTactic(dst []byte, t tactic) []byte {
	dst = append(dst, `"tactic":{"uid":`...)
	dst = jsonx.AppendString(dst, t.id)
	if t.name != "" {
		dst = append(dst, `,"name":`...)
		dst = jsonx.AppendString(dst, t.name)
	}
	return append(dst, '}')
}
