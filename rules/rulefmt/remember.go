package rulefmt

import (
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/cep-project/cep/internal/yamlx"
)

// RememberSpec is one fact a rule remembers when it produces an alert:
// a member of a set ({set: known_devices, key: event.user, value:
// event.device, ttl: 90d}) or the value of a hash ({hash:
// card_last_country, key: event.card_id, value: event.country, ttl: 30d}).
type RememberSpec struct {
	Set   string        `yaml:"set"`
	Hash  string        `yaml:"hash"`
	Key   Expr          `yaml:"key" yamlx:"required"`
	Value Expr          `yaml:"value" yamlx:"required"`
	TTL   time.Duration `yaml:"ttl" yamlx:"required,positive"`
	Pos   yamlx.Pos     `yaml:"-" yamlx:"pos"`
	// NamePos is where the fact's name is written.
	NamePos yamlx.Pos `yaml:"-"`
}

// factName is what a fact or context may be called: it becomes part of
// Redis keys, so no braces (hash tags) and no colons (key separators).
var factName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]*$`)

// ValidFactName reports whether name can name a fact or a context.
func ValidFactName(name string) bool { return factName.MatchString(name) }

// Name returns the fact's name, whichever kind it is.
func (r *RememberSpec) Name() string {
	if r.Set != "" {
		return r.Set
	}
	return r.Hash
}

// ValidateYAMLX implements yamlx.Validator.
func (r *RememberSpec) ValidateYAMLX(d *yamlx.Decoder, n *yaml.Node) {
	r.NamePos = r.Pos
	for _, k := range []string{"set", "hash"} {
		if _, v := yamlx.Lookup(n, k); v != nil {
			r.NamePos = d.Pos(v)
			if v.Value != "" && !ValidFactName(v.Value) {
				d.Errorf(v, "remember: fact name %q may hold only letters, digits and _ . - (and start with a letter or _)", v.Value)
			}
		}
	}
	switch {
	case r.Set == "" && r.Hash == "":
		d.Errorf(n, "remember needs set: NAME (a set of members per key, for seen) or hash: NAME (one value per key, for fact)")
	case r.Set != "" && r.Hash != "":
		d.Errorf(n, "remember takes set or hash, not both")
	}
}
