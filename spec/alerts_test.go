package spec

import (
	"bytes"
	"encoding/json"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// alertsOf parses JSON-lines alerts.
func alertsOf(out string) []map[string]any {
	GinkgoHelper()
	var as []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		Expect(json.Unmarshal([]byte(l), &m)).To(Succeed(), "alert line %q", l)
		as = append(as, m)
	}
	return as
}

// wholeLines is what a file some process appends to holds in whole
// lines: a read may end inside a write, on a line not yet ended.
func wholeLines(data []byte) string {
	return string(data[:bytes.LastIndexByte(data, '\n')+1])
}

// rulesOf counts alerts by rule.
func rulesOf(as []map[string]any) map[string]int {
	m := map[string]int{}
	for _, a := range as {
		m[a["rule"].(string)]++
	}
	return m
}

// evidenceIDs lists the ids of an alert's evidence events.
func evidenceIDs(a map[string]any) []string {
	var ids []string
	for _, e := range a["events"].([]any) {
		ids = append(ids, e.(map[string]any)["id"].(string))
	}
	return ids
}
