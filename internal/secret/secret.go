// Package secret holds configuration values that must never be printed:
// tokens, passwords, API keys, HMAC and encryption keys. Sinks use it
// today; the Redis and Kafka source configurations are meant to use it
// too, so that every secret of cep is written, resolved and redacted the
// same way.
package secret

import "log/slog"

// Secret is a configuration value that must never be logged or printed:
// tokens, passwords, API keys, HMAC keys. Every way of printing it (fmt
// verbs, slog, YAML and JSON encoding of a config) shows a placeholder; the
// value is read only through Reveal, at the point of use.
type Secret string

// Redacted is what every printed form of a secret shows.
const Redacted = "[redacted]"

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }

// String redacts the secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return Redacted
}

// GoString redacts the secret under %#v.
func (s Secret) GoString() string { return s.String() }

// LogValue redacts the secret in slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalYAML redacts the secret when a config is dumped.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalText redacts the secret in JSON and other text encodings.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
