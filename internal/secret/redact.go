package secret

import (
	"net/url"
	"regexp"
	"strings"
)

// URLs carry secrets too: a password or token as userinfo
// (https://user:pw@host) and API keys in the query (?api_key=…). Errors of
// net/http quote the URL they failed on, so anything that shows an error —
// a log line, the health endpoint, the dead-letter file — passes its text
// through Redact first.

// RedactURL returns raw with its userinfo, every query value and the
// fragment replaced by "redacted"; scheme, host, path and query keys stay,
// so that an operator still sees where the call went.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return redactLoose(raw)
	}
	if u.User == nil && u.RawQuery == "" && !u.ForceQuery && u.Fragment == "" {
		return raw
	}
	var b strings.Builder
	switch {
	case u.Opaque != "":
		b.WriteString(u.Scheme + ":" + u.Opaque)
	case u.Scheme != "":
		b.WriteString(u.Scheme + "://")
	}
	if u.Opaque == "" {
		if u.User != nil {
			b.WriteString("redacted@")
		}
		b.WriteString(u.Host)
		b.WriteString(u.EscapedPath())
	}
	if u.RawQuery != "" || u.ForceQuery {
		b.WriteByte('?')
		for i, kv := range strings.Split(u.RawQuery, "&") {
			if i > 0 {
				b.WriteByte('&')
			}
			k, _, hasValue := strings.Cut(kv, "=")
			b.WriteString(k)
			if hasValue {
				b.WriteString("=redacted")
			}
		}
	}
	if u.Fragment != "" {
		b.WriteString("#redacted")
	}
	return b.String()
}

// redactLoose handles text that does not parse as a URL: everything after
// "//" up to an '@', and everything after '?', goes.
func redactLoose(raw string) string {
	if i := strings.Index(raw, "://"); i >= 0 {
		if j := strings.IndexByte(raw[i+3:], '@'); j >= 0 {
			raw = raw[:i+3] + "redacted" + raw[i+3+j:]
		}
	}
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		raw = raw[:i+1] + "redacted"
	}
	return raw
}

// urlInText finds URLs inside free text: a scheme, "://", and what follows
// up to white space or a quote.
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)

// Redact returns s with every URL in it passed through RedactURL.
func Redact(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	return urlInText.ReplaceAllStringFunc(s, RedactURL)
}

// RedactError returns err's text redacted, "" for nil.
func RedactError(err error) string {
	if err == nil {
		return ""
	}
	return Redact(err.Error())
}
