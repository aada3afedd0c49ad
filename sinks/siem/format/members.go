package format

import (
	"fmt"
	"strconv"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/internal/jsonx"
)

// This file writes the JSON members that several formats share: the key,
// the evidence, and the alert's own values, which the JSON contract has at
// the top level, ECS under cep.alert and OCSF under unmapped. Each is
// written here once.

// document is what the schema formats (ECS, OCSF) hold: the sender they
// name and the rewriting of member names for the destination.
type document struct {
	product Product
	names   jsonx.Names
}

func newDocument(o Options) document { return document{product: o.Product, names: o.FieldNames} }

// JSON implements Formatter: schema documents are JSON objects.
func (document) JSON() bool { return true }

// appendKey writes an alert key as an object from expression to value, in
// the rule's order; names, when set, rewrites member names (the
// expressions and any inside the values).
func appendKey(dst []byte, k alert.Key, names jsonx.Names) ([]byte, error) {
	dst = append(dst, '{')
	var err error
	for i, p := range k {
		if i > 0 {
			dst = append(dst, ',')
		}
		expr := p.Expr
		if names != nil {
			expr = names(expr)
		}
		dst = jsonx.AppendString(dst, expr)
		dst = append(dst, ':')
		if dst, err = jsonx.AppendAnyNames(dst, p.Value, names); err != nil {
			return dst, fmt.Errorf("key %s: %w", p.Expr, err)
		}
	}
	return append(dst, '}'), nil
}

// appendEvidence writes one evidence entry in the form of
// alert.Evidence.MarshalJSON, the event as valid UTF-8 JSON.
func appendEvidence(dst []byte, e alert.Evidence, names jsonx.Names) ([]byte, error) {
	dst = append(dst, `{"step":`...)
	dst = jsonx.AppendString(dst, e.Step)
	if e.Event == nil {
		return append(dst, `,"event":null}`...), nil
	}
	if e.Event.Stream != "" {
		dst = append(dst, `,"stream":`...)
		dst = jsonx.AppendString(dst, e.Event.Stream)
	}
	if e.Event.ID != "" {
		dst = append(dst, `,"id":`...)
		dst = jsonx.AppendString(dst, e.Event.ID)
	}
	dst = append(dst, `,"event":`...)
	dst, err := jsonx.AppendRawNames(dst, e.Event.Raw, names)
	if err != nil {
		return dst, err
	}
	return append(dst, '}'), nil
}

// appendEvidenceList writes the evidence array, each entry between open
// and close (OCSF wraps entries in {"data": …}). A nil list is null, as in
// the JSON contract, unless entries are wrapped: OCSF wants an array.
func appendEvidenceList(dst []byte, es []alert.Evidence, open, close string, names jsonx.Names) ([]byte, error) {
	if es == nil && open == "" {
		return append(dst, "null"...), nil
	}
	dst = append(dst, '[')
	var err error
	for i, e := range es {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, open...)
		if dst, err = appendEvidence(dst, e, names); err != nil {
			return dst, err
		}
		dst = append(dst, close...)
	}
	return append(dst, ']'), nil
}

// appendScoreReasons writes the optional ,"score" and ,"reasons" members.
func appendScoreReasons(dst []byte, a *alert.Alert) ([]byte, error) {
	if a.Score != nil {
		dst = append(dst, `,"score":`...)
		var err error
		if dst, err = jsonx.AppendFloat(dst, *a.Score, 64); err != nil {
			return dst, err
		}
	}
	if len(a.Reasons) > 0 {
		dst = append(dst, `,"reasons":`...)
		dst = jsonx.AppendStrings(dst, a.Reasons)
	}
	return dst, nil
}

// appendModel writes the optional ,"model" member. The JSON contract omits
// an empty version (omitempty); ECS keeps the member's shape fixed.
func appendModel(dst []byte, m *alert.Model, omitEmptyVersion bool) []byte {
	if m == nil {
		return dst
	}
	dst = append(dst, `,"model":{"name":`...)
	dst = jsonx.AppendString(dst, m.Name)
	if m.Version != "" || !omitEmptyVersion {
		dst = append(dst, `,"version":`...)
		dst = jsonx.AppendString(dst, m.Version)
	}
	return append(dst, '}')
}

// appendKeyFields writes ,"key":{…},"fields":{…}.
func appendKeyFields(dst []byte, a *alert.Alert, names jsonx.Names) ([]byte, error) {
	dst = append(dst, `,"key":`...)
	var err error
	if dst, err = appendKey(dst, a.Key, names); err != nil {
		return dst, err
	}
	dst = append(dst, `,"fields":`...)
	return jsonx.AppendMapNames(dst, a.Fields, names)
}

// cepBlock is the alert's own values in a format whose schema has no place
// for them: ECS's cep.alert (with the model and the evidence) and OCSF's
// unmapped (which has evidences and no model field of its own).
type cepBlock struct {
	model, evidence bool
	names           jsonx.Names
}

// append writes the block's members, starting inside an open object.
func (b cepBlock) append(dst []byte, a *alert.Alert) ([]byte, error) {
	dst = append(dst, `"severity":`...)
	dst = jsonx.AppendString(dst, string(a.Severity))
	dst = append(dst, `,"priority":`...)
	dst = strconv.AppendInt(dst, int64(a.Priority), 10)
	var err error
	if dst, err = appendScoreReasons(dst, a); err != nil {
		return dst, err
	}
	if b.model {
		dst = appendModel(dst, a.Model, false)
	}
	if dst, err = appendKeyFields(dst, a, b.names); err != nil {
		return dst, err
	}
	if b.evidence {
		dst = append(dst, `,"evidence":`...)
		if dst, err = appendEvidenceList(dst, a.Events, "", "", b.names); err != nil {
			return dst, err
		}
	}
	return appendSuppression(dst, a), nil
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
