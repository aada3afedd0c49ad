package spec

import (
	"fmt"
	"strings"
	"syscall"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
)

// A filter indexed by merchant, and the same condition written so that
// the router cannot index it: its stream is not screened.
func merchantRule(id, stream, match string) string {
	return merchantRuleWith(id, stream, match, "")
}

// merchantRuleWith is merchantRule with more of the alert section.
func merchantRuleWith(id, stream, match, alert string) string {
	return fmt.Sprintf(`id: %s
title: A large payment at a watched merchant
streams: [%s]
by: [event.card]
match: '%s'
alert:
  fields: {amount: event.amount, city: event.geo.city, currency: event.currency}
%s`, id, stream, match, alert)
}

// seenAlert is what the screen specs compare of an alert.
type seenAlert struct{ key, ids, fields, count string }

// runPayments writes 5,000 payments to dir and runs dir's rules over them
// as two streams, payments and copies; it returns the run and its alerts
// by rule.
func runPayments(dir string) (result, map[string][]seenAlert) {
	var b strings.Builder
	for i := range 5000 {
		fmt.Fprintf(&b, `{"id":"p%d","ts":%d,"card":"c%d","merchant":"m-%d","amount":%d,"currency":"EUR","geo":{"city":"C\u00e9%d","lat":1}}`+"\n",
			i, 1_772_438_400_000+int64(i)*250, i%97, i%40, (i*37)%100, i%5)
	}
	writeFile(dir, "payments.jsonl", b.String())
	r := cep(dir, nil, "run", "--rules", "rules", "--input", "payments=payments.jsonl", "--input", "copies=payments.jsonl")
	Expect(r.code).To(Equal(0), r.stderr)
	byRule := map[string][]seenAlert{}
	for _, a := range alertsOf(r.stdout) {
		byRule[a["rule"].(string)] = append(byRule[a["rule"].(string)],
			seenAlert{fmt.Sprint(a["key"]), strings.Join(evidenceIDs(a), " "), fmt.Sprint(a["fields"]), fmt.Sprint(a["count"])})
	}
	return r, byRule
}

var _ = Describe("events no rule can reach", func() {
	It("are decoded with only the fields rules are indexed by, and alert as the others", func() {
		dir := GinkgoT().TempDir()
		writeFile(dir, "rules/indexed.yaml", merchantRule("spec.indexed", "payments",
			`event.merchant in ["m-3", "m-7"] && event.amount > 50.0`))
		writeFile(dir, "rules/plain.yaml", merchantRule("spec.plain", "copies",
			`(event.merchant == "m-3" || event.merchant == "m-7" || event.merchant == "x-" + event.card) && event.amount > 50.0`))
		r, byRule := runPayments(dir)
		// Of the payments stream, every event but the watched merchants'
		// (a twentieth); none of the copies.
		Expect(r.stderr).To(ContainSubstring("screened=4750"))

		Expect(len(byRule["spec.indexed"])).To(BeNumerically(">", 100))
		Expect(byRule["spec.indexed"]).To(Equal(byRule["spec.plain"]))
		Expect(byRule["spec.indexed"][0].fields).To(ContainSubstring("city:Cé"))
	})

	// The payments stream is read by filters alone: its events, screened
	// out or let through, come from their decoder's slabs and are released
	// once dispatched, the slabs reused; an alert is built from a copy of
	// its event (event.Event.Detach). Grouped alerts wait to the end of
	// the input, long after their events' slabs held others: their
	// evidence, key and fields must still be the copies stream's, whose
	// events are left to the collector.
	It("alert alike when their alerts are held long after the events' memory was reused", func() {
		dir := GinkgoT().TempDir()
		group := "  group: {by: [key], for: 2h}\n"
		// Every merchant but m-0: most events pass the screen, which the
		// decoders then set aside, decoding every event in full.
		var merchants []string
		for m := 1; m < 40; m++ {
			merchants = append(merchants, fmt.Sprintf(`"m-%d"`, m))
		}
		watched := "[" + strings.Join(merchants, ", ") + "]"
		writeFile(dir, "rules/indexed.yaml", merchantRuleWith("spec.indexed", "payments",
			`event.merchant in `+watched+` && event.amount > 50.0`, group))
		writeFile(dir, "rules/plain.yaml", merchantRuleWith("spec.plain", "copies",
			`(event.merchant in `+watched+` || event.merchant == "x-" + event.card) && event.amount > 50.0`, group))
		_, byRule := runPayments(dir)
		// A first alert and a summary for each of the 97 cards.
		Expect(byRule["spec.indexed"]).To(HaveLen(2 * 97))
		Expect(byRule["spec.indexed"]).To(Equal(byRule["spec.plain"]))
	})
})

// kindRule alerts on every event of one kind.
func kindRule(id, kind string) string {
	return fmt.Sprintf("id: %s\ntitle: Events of kind %s\nstreams: [s]\nmatch: event.kind == %q\n", id, kind, kind)
}

var _ = Describe("a screened stream in a service", func() {
	It("counts what it screens out, and lets through what a rule added by a reload reads", func() {
		dir := GinkgoT().TempDir()
		metrics := freeAddr()
		writeFile(dir, "rules/a.yaml", kindRule("spec.a", "a"))
		feed := writeFile(dir, "s.jsonl", "")
		writeFile(dir, "cep.yaml", `rules: [rules]
engine: {allowed_lateness: 0s}
sources:
  - {name: feed, type: file, path: s.jsonl, stream: s, follow: true, poll_interval: 20ms}
sinks:
  - {name: archive, type: file, file: {path: alerts.jsonl}}
metrics: {listen: `+metrics+`}
`)
		s := startCep(dir, "run", "--config", "cep.yaml")
		Eventually(func() int { c, _ := httpGet("http://"+metrics+"/readyz", ""); return c }).Should(Equal(200))
		events := func(from, to int, kind func(int) string) []string {
			var out []string
			for i := from; i < to; i++ {
				out = append(out, fmt.Sprintf(`{"id":"e%d","ts":%d,"kind":%q,"pad":"%s"}`, i, 1_767_225_600+i, kind(i), strings.Repeat("x", i%7)))
			}
			return out
		}

		By("screening out the events of kinds no rule reads")
		appendLines(feed, events(0, 600, func(i int) string {
			if i%100 == 0 {
				return "a"
			}
			return "x"
		})...)
		Eventually(func() []string { return alertRules(dir) }).Should(ContainElements("spec.a[e0]", "spec.a[e500]"))
		Eventually(func() string { _, m := httpGet("http://"+metrics+"/metrics", ""); return m }).
			Should(MatchRegexp(`cep_source_events_screened_total\{source="feed"\} [1-9][0-9]{2}`))
		// The loop publishes its statistics once a second.
		Eventually(func() string { _, m := httpGet("http://"+metrics+"/metrics", ""); return m }, "5s").
			Should(MatchRegexp(`(?m)^cep_engine_busy_seconds_total [0-9.]*[1-9][0-9.]*(e-[0-9]+)?$`), "the engine's time on the events is counted")

		By("adding a rule for them: after the reload they reach it")
		writeFile(dir, "rules/x.yaml", kindRule("spec.x", "x"))
		s.Signal(syscall.SIGHUP)
		Eventually(s.Err).Should(gbytes.Say("rules reloaded"))
		appendLines(feed, events(600, 620, func(int) string { return "x" })...)
		Eventually(func() []string { return alertRules(dir) }).Should(ContainElements("spec.x[e600]", "spec.x[e618]"))
		Expect(alertRules(dir)).NotTo(ContainElement("spec.x[e1]"), "events before the reload are not read again")
		s.Terminate()
		Eventually(s).Should(gexec.Exit(0))
	})
})
