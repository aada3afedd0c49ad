package format

import (
	"strings"
)

// attack is what a rule's tags say about MITRE ATT&CK, in the Sigma
// convention: attack.t1110, attack.t1110.001, attack.ta0006 or a tactic's
// name such as attack.credential_access.
type attack struct {
	tactics       []tactic
	techniques    []string // "T1110"
	subtechniques []string // "T1110.001"
}

type tactic struct{ id, name string }

// tactics of the Enterprise matrix, by the Sigma tag spelling of their
// names. Ids are stable across ATT&CK versions.
var tacticsByTag = map[string]tactic{
	"reconnaissance":       {"TA0043", "Reconnaissance"},
	"resource_development": {"TA0042", "Resource Development"},
	"initial_access":       {"TA0001", "Initial Access"},
	"execution":            {"TA0002", "Execution"},
	"persistence":          {"TA0003", "Persistence"},
	"privilege_escalation": {"TA0004", "Privilege Escalation"},
	"defense_evasion":      {"TA0005", "Defense Evasion"},
	"credential_access":    {"TA0006", "Credential Access"},
	"discovery":            {"TA0007", "Discovery"},
	"lateral_movement":     {"TA0008", "Lateral Movement"},
	"collection":           {"TA0009", "Collection"},
	"command_and_control":  {"TA0011", "Command and Control"},
	"exfiltration":         {"TA0010", "Exfiltration"},
	"impact":               {"TA0040", "Impact"},
}

var tacticsByID = func() map[string]tactic {
	m := make(map[string]tactic, len(tacticsByTag))
	for _, t := range tacticsByTag {
		m[t.id] = t
	}
	return m
}()

// parseAttack reads ATT&CK ids from tags; other tags are ignored. Most
// alerts carry none, so the common case allocates nothing.
func parseAttack(tags []string) (at attack, ok bool) {
	for _, tag := range tags {
		if len(tag) < 8 || !strings.EqualFold(tag[:7], "attack.") {
			continue
		}
		v := strings.ToLower(tag[7:])
		switch {
		case isTacticID(v):
			id := strings.ToUpper(v)
			t, known := tacticsByID[id]
			if !known {
				t = tactic{id: id}
			}
			at.tactics = appendTactic(at.tactics, t)
		case isTechniqueID(v):
			id := strings.ToUpper(v)
			if len(id) > 5 {
				at.subtechniques = appendUnique(at.subtechniques, id)
				id = id[:5]
			}
			at.techniques = appendUnique(at.techniques, id)
		default:
			if t, known := tacticsByTag[strings.ReplaceAll(v, "-", "_")]; known {
				at.tactics = appendTactic(at.tactics, t)
			}
		}
	}
	return at, len(at.tactics)+len(at.techniques) > 0
}

// isTacticID matches ta0006.
func isTacticID(v string) bool {
	return len(v) == 6 && v[0] == 't' && v[1] == 'a' && digits(v[2:])
}

// isTechniqueID matches t1110 and t1110.001.
func isTechniqueID(v string) bool {
	if len(v) != 5 && len(v) != 9 || v[0] != 't' || !digits(v[1:5]) {
		return false
	}
	return len(v) == 5 || v[5] == '.' && digits(v[6:])
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func appendUnique(ss []string, s string) []string {
	for _, x := range ss {
		if x == s {
			return ss
		}
	}
	return append(ss, s)
}

func appendTactic(ts []tactic, t tactic) []tactic {
	for _, x := range ts {
		if x.id == t.id {
			return ts
		}
	}
	return append(ts, t)
}

// techniqueURL is the ATT&CK page of a technique or sub-technique.
func techniqueURL(id string) string {
	if i := strings.IndexByte(id, '.'); i > 0 {
		return "https://attack.mitre.org/techniques/" + id[:i] + "/" + id[i+1:] + "/"
	}
	return "https://attack.mitre.org/techniques/" + id + "/"
}

func tacticURL(id string) string { return "https://attack.mitre.org/tactics/" + id + "/" }
