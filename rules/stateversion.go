package rules

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// StateKeepingKeys are the keys of a rule file whose changes cannot alter
// what the rule's state means, so a new version of a rule that differs
// from the old one only under these keys keeps the old one's state, on a
// reload and on a restore from a checkpoint. A change anywhere else (the
// streams, the key, the late policy, the detector other than an
// aggregate's having, baselines, alert.group.by, and any key added to the
// format later) starts the rule's state fresh. The README's "Reload"
// section lists the same keys; TestStateVersion holds the code to it.
//
// Why each keeps state: title, description, severity, status, tags and
// owner are copied onto alerts; tests are not run by the engine;
// alert.fields and score are evaluated when an alert is made, from the
// evidence; an aggregate's having is evaluated over the measures, which
// are the state; alert.dedup, alert.group.for and alert.throttle are
// spans and caps — spans already open run to their old end, new ones take
// the new values.
var StateKeepingKeys = []string{
	"title", "description", "severity", "status", "tags", "owner", "tests",
	"alert.fields", "alert.dedup", "alert.group.for", "alert.throttle",
	"score", "aggregate.having",
}

// stateVersion hashes a rule file without the keys in StateKeepingKeys,
// ignoring comments, key order and layout: what is left decides what the
// rule keeps in state.
func stateVersion(src []byte) string {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return ""
	}
	h := sha256.New()
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	hashNode(h, root, "", 0)
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// maxStateDepth stops hashing nesting deeper than any rule needs; the
// compiler has already bounded aliases, so this is a guard only.
const maxStateDepth = 64

// onlyKept reports whether n is a mapping holding nothing but keys that
// keep state, so that adding `alert: {fields: …}` to a rule without an
// alert key is the same as adding the fields to an existing one.
func onlyKept(n *yaml.Node, path string, depth int) bool {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind != yaml.MappingNode || depth > maxStateDepth {
		return false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		sub := path + "." + n.Content[i].Value
		if !slices.Contains(StateKeepingKeys, sub) && !onlyKept(n.Content[i+1], sub, depth+1) {
			return false
		}
	}
	return true
}

func hashNode(h hash.Hash, n *yaml.Node, path string, depth int) {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if depth > maxStateDepth {
		return
	}
	var buf [binary.MaxVarintLen64]byte
	str := func(s string) {
		h.Write(buf[:binary.PutUvarint(buf[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	switch n.Kind {
	case yaml.MappingNode:
		h.Write([]byte{'m'})
		type pair struct {
			key string
			val *yaml.Node
		}
		var pairs []pair
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			for k.Kind == yaml.AliasNode && k.Alias != nil {
				k = k.Alias
			}
			sub := k.Value
			if path != "" {
				sub = path + "." + k.Value
			}
			if slices.Contains(StateKeepingKeys, sub) || onlyKept(n.Content[i+1], sub, depth+1) {
				continue
			}
			pairs = append(pairs, pair{k.Value, n.Content[i+1]})
		}
		slices.SortStableFunc(pairs, func(a, b pair) int { return strings.Compare(a.key, b.key) })
		for _, p := range pairs {
			str(p.key)
			sub := p.key
			if path != "" {
				sub = path + "." + p.key
			}
			hashNode(h, p.val, sub, depth+1)
		}
		h.Write([]byte{'e'})
	case yaml.SequenceNode:
		h.Write([]byte{'s'})
		for _, c := range n.Content {
			// Items of a list share their list's path: no kept key lies
			// inside a list.
			hashNode(h, c, path+"[]", depth+1)
		}
		h.Write([]byte{'e'})
	default:
		if n.Tag == "!!null" {
			h.Write([]byte{'n'})
			return
		}
		h.Write([]byte{'v'})
		str(n.Value)
	}
}

// VersionLabel is the rule's version as alerts name it: the content hash
// of its file, and for a rule read from Git, "@" and the commit, such as
// "0b5e6c1d2a3f@9f3c2a1b7d4e".
func (r *Rule) VersionLabel() string {
	if r.Revision == "" {
		return r.Version
	}
	return r.Version + "@" + r.Revision
}
