package spec

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
)

var _ = Describe("a multi-stream join", func() {
	It("joins logins and transfers of one user from two files, in either order, and reports unmatched ones", func() {
		dir := GinkgoT().TempDir()
		writeFile(dir, "rules/join.yaml", `id: spec.join
title: Login and large transfer within 15 minutes
join:
  within: 15m
  type: left
  sides:
    - {name: login, stream: auth, where: event.outcome == "success", by: [event.user]}
    - {name: transfer, stream: payments, where: event.amount > 1000.0, by: [event.account_user]}
alert:
  fields:
    country: login.country
    amount: 'transfer == null ? 0.0 : transfer.amount'
`)
		writeFile(dir, "auth.jsonl", strings.Join([]string{
			`{"id":"l1","ts":"2026-03-02T08:00:00Z","user":"u1","outcome":"success","country":"NG"}`,
			`{"id":"l2","ts":"2026-03-02T08:20:00Z","user":"u2","outcome":"success","country":"FR"}`,
			`{"id":"l5","ts":"2026-03-02T08:30:01Z","user":"u5","outcome":"success","country":"IT"}`,
			`{"id":"l4","ts":"2026-03-02T08:29:58Z","user":"u4","outcome":"success","country":"DE"}`,
			`{"id":"l3","ts":"2026-03-02T08:40:00Z","user":"u3","outcome":"success","country":"GB"}`,
		}, "\n")+"\n")
		writeFile(dir, "payments.jsonl", strings.Join([]string{
			`{"id":"t1","ts":"2026-03-02T08:05:00Z","account_user":"u1","amount":5000}`,
			`{"id":"t2","ts":"2026-03-02T08:14:00Z","account_user":"u2","amount":2000}`,
			`{"id":"t4","ts":"2026-03-02T08:30:00Z","account_user":"u4","amount":3000}`,
		}, "\n")+"\n")
		r := cep(dir, nil, "run", "--rules", "rules", "--input", "auth.jsonl", "--input", "payments.jsonl")
		Expect(r.code).To(Equal(0), r.stderr)
		as := alertsOf(r.stdout)
		var got []string
		for _, a := range as {
			got = append(got, strings.Join(evidenceIDs(a), "+")+"@"+a["time"].(string))
		}
		// Evidence is in side order; l4 arrives 3s out of order in its own
		// file: within the allowed lateness, it still joins t4. l3 and l5
		// find no transfer and are reported when their window closes.
		Expect(got).To(ConsistOf(
			"l1+t1@2026-03-02T08:05:00Z",
			"l2+t2@2026-03-02T08:20:00Z",
			"l4+t4@2026-03-02T08:30:00Z",
			"l5@2026-03-02T08:45:01Z",
			"l3@2026-03-02T08:55:00Z",
		))
		for _, a := range as {
			if evidenceIDs(a)[0] == "l3" {
				Expect(a["fields"]).To(HaveKeyWithValue("missing_sides", []any{"transfer"}))
			}
		}
	})
})
