package seal

import (
	"errors"
	"fmt"

	"github.com/cep-project/cep/internal/secret"
)

// Config is the `encryption:` block of a store that keeps state on disk
// (a sink's spool; checkpoints). The key is a secret like any other:
// "${env:NAME}" or key_file, 32 bytes as 64 hex digits or base64.
type Config struct {
	// Key seals what is written from now on.
	Key     secret.Secret `yaml:"key"`
	KeyFile string        `yaml:"key_file"`
	// Previous keys only open data written before a rotation; drop one
	// when nothing sealed with it is left.
	Previous []PreviousKey `yaml:"previous"`
}

// PreviousKey is a key kept for reading.
type PreviousKey struct {
	Key     secret.Secret `yaml:"key"`
	KeyFile string        `yaml:"key_file"`
}

// Validate reports a block without a key.
func (c *Config) Validate() []error {
	var errs []error
	if c.Key == "" && c.KeyFile == "" {
		errs = append(errs, errors.New("key: required (or key_file)"))
	}
	for i, p := range c.Previous {
		if p.Key == "" && p.KeyFile == "" {
			errs = append(errs, fmt.Errorf("previous[%d].key: required (or key_file)", i))
		}
	}
	return errs
}

// Keyring reads the keys. Secrets are resolved with r unless they already
// are; errors name the key's path under prefix.
func (c *Config) Keyring(r secret.Resolver, prefix string) (*Keyring, error) {
	read := func(path string, s secret.Secret, file string) (*Key, error) {
		text, err := r.Value(s, file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		k, err := ParseKey(text)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return k, nil
	}
	primary, err := read(prefix+"key", c.Key, c.KeyFile)
	if err != nil {
		return nil, err
	}
	var older []*Key
	for i, p := range c.Previous {
		k, err := read(fmt.Sprintf("%sprevious[%d].key", prefix, i), p.Key, p.KeyFile)
		if err != nil {
			return nil, err
		}
		older = append(older, k)
	}
	return NewKeyring(primary, older...), nil
}
