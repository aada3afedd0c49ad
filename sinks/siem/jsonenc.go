package siem

import (
	"fmt"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/internal/jsonx"
)

// appendKey writes an alert key as an object from expression to value, in
// the rule's order.
func appendKey(dst []byte, k alert.Key) ([]byte, error) {
	dst = append(dst, '{')
	var err error
	for i, p := range k {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonx.AppendString(dst, p.Expr)
		dst = append(dst, ':')
		if dst, err = jsonx.AppendAny(dst, p.Value); err != nil {
			return dst, fmt.Errorf("key %s: %w", p.Expr, err)
		}
	}
	return append(dst, '}'), nil
}

// appendEvidence writes one evidence entry in the form of
// alert.Evidence.MarshalJSON.
func appendEvidence(dst []byte, e alert.Evidence) ([]byte, error) {
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
	dst, err := jsonx.AppendRaw(dst, e.Event.Raw)
	if err != nil {
		return dst, err
	}
	return append(dst, '}'), nil
}

func appendEvidenceList(dst []byte, es []alert.Evidence) ([]byte, error) {
	if es == nil {
		return append(dst, "null"...), nil
	}
	dst = append(dst, '[')
	var err error
	for i, e := range es {
		if i > 0 {
			dst = append(dst, ',')
		}
		if dst, err = appendEvidence(dst, e); err != nil {
			return dst, err
		}
	}
	return append(dst, ']'), nil
}
