package spec

import (
	"fmt"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

// A filter indexed by merchant, and the same condition written so that
// the router cannot index it: its stream is not screened.
func merchantRule(id, stream, match string) string {
	return fmt.Sprintf(`id: %s
title: A large payment at a watched merchant
streams: [%s]
by: [event.card]
match: '%s'
alert:
  fields: {amount: event.amount, city: event.geo.city, currency: event.currency}
`, id, stream, match)
}

var _ = Describe("events no rule can reach", func() {
	It("are decoded with only the fields rules are indexed by, and alert as the others", func() {
		dir := GinkgoT().TempDir()
		writeFile(dir, "rules/indexed.yaml", merchantRule("spec.indexed", "payments",
			`event.merchant in ["m-3", "m-7"] && event.amount > 50.0`))
		writeFile(dir, "rules/plain.yaml", merchantRule("spec.plain", "copies",
			`(event.merchant == "m-3" || event.merchant == "m-7" || event.merchant == "x-" + event.card) && event.amount > 50.0`))
		var b strings.Builder
		for i := range 5000 {
			fmt.Fprintf(&b, `{"id":"p%d","ts":%d,"card":"c%d","merchant":"m-%d","amount":%d,"currency":"EUR","geo":{"city":"C\u00e9%d","lat":1}}`+"\n",
				i, 1_772_438_400_000+int64(i)*250, i%97, i%40, (i*37)%100, i%5)
		}
		writeFile(dir, "payments.jsonl", b.String())

		r := cep(dir, nil, "run", "--rules", "rules", "--input", "payments=payments.jsonl", "--input", "copies=payments.jsonl")
		Expect(r.code).To(Equal(0), r.stderr)
		// Of the payments stream, every event but the watched merchants'
		// (a twentieth); none of the copies.
		Expect(r.stderr).To(ContainSubstring("screened=4750"))

		type seen struct{ key, ids, fields string }
		byRule := map[string][]seen{}
		for _, a := range alertsOf(r.stdout) {
			byRule[a["rule"].(string)] = append(byRule[a["rule"].(string)],
				seen{fmt.Sprint(a["key"]), strings.Join(evidenceIDs(a), " "), fmt.Sprint(a["fields"])})
		}
		Expect(len(byRule["spec.indexed"])).To(BeNumerically(">", 100))
		Expect(byRule["spec.indexed"]).To(Equal(byRule["spec.plain"]))
		Expect(byRule["spec.indexed"][0].fields).To(ContainSubstring("city:Cé"))
	})
})
