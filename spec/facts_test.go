package spec

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"

	"github.com/cep-project/cep/state/redistest"
)

// The facts specs run the example rules of examples/facts against a real
// redis-server: one learns devices from logins (remember:), the other
// asks about them on payments (seen).

// factsRun is a config in dir that runs the facts example's rules ruleFile
// (or all of them) over the given stream files, with facts and state in
// the Redis at addr under the lease name lease.
func factsRun(dir, addr, lease string, inputs map[string]string, rulesPath string, follow bool, extra ...string) string {
	var srcs string
	streams := make([]string, 0, len(inputs))
	for s := range inputs {
		streams = append(streams, s)
	}
	sort.Strings(streams)
	for _, s := range streams {
		srcs += fmt.Sprintf("  - {type: file, path: %s, stream: %s, follow: %v, poll_interval: 100ms}\n", inputs[s], s, follow)
	}
	return writeFile(dir, "cep.yaml", fmt.Sprintf(`
rules: [%s]
engine: {allowed_lateness: 1s, idle_timeout: 300ms}
state:
  interval: 200ms
  redis:
    addr: %s
    lease: {name: %s, ttl: 2s}
facts:
  on_error: wait
  shared: {known_devices: set}
%ssources:
%ssinks:
  - {name: archive, type: file, file: {path: alerts.jsonl}}
`, rulesPath, addr, lease, strings.Join(extra, ""), srcs))
}

// flagged are the devices of the payments that alerted, as user/device.
func flagged(dir string) []string {
	GinkgoHelper()
	data, err := os.ReadFile(filepath.Join(dir, "alerts.jsonl"))
	if !os.IsNotExist(err) {
		Expect(err).NotTo(HaveOccurred())
	}
	var out []string
	for _, a := range alertsOf(wholeLines(data)) {
		f := a["fields"].(map[string]any)
		out = append(out, fmt.Sprintf("%v/%v", f["user"], f["device"]))
	}
	sort.Strings(out)
	return out
}

const factsLogins = `{"id":"l1","ts":"2026-03-02T08:00:00Z","user":"u1","outcome":"success","device_id":"d1"}
{"id":"l2","ts":"2026-03-02T08:01:00Z","user":"u2","outcome":"success","device_id":"d2"}
{"id":"l3","ts":"2026-03-02T08:02:00Z","user":"u3","outcome":"failure","device_id":"d3"}
{"id":"l4","ts":"2026-03-02T08:03:00Z","user":"u4","outcome":"success","device_id":"d4"}
`

const factsPayments = `{"id":"p1","ts":"2026-03-02T09:00:00Z","type":"payment","account_user":"u1","device_id":"d1","amount":10}
{"id":"p2","ts":"2026-03-02T09:01:00Z","type":"payment","account_user":"u2","device_id":"d9","amount":20}
{"id":"p3","ts":"2026-03-02T09:02:00Z","type":"payment","account_user":"u3","device_id":"d3","amount":30}
{"id":"p4","ts":"2026-03-02T09:03:00Z","type":"payment","account_user":"u4","device_id":"d4","amount":40}
`

var _ = Describe("facts in Redis", func() {
	rulesDir := func() string { return filepath.Join(repoRoot(), "examples", "facts", "rules") }

	It("lets a payments process see the devices a logins process learnt", func() {
		srv := redistest.Start(GinkgoT())
		data := GinkgoT().TempDir()
		auth := writeFile(data, "auth.jsonl", factsLogins)
		pay := writeFile(data, "payments.jsonl", factsPayments)

		By("a process reading auth only, remembering devices")
		logins := GinkgoT().TempDir()
		s := startCep(logins, "run", "--config", factsRun(logins, srv.Addr(), "logins", map[string]string{"auth": auth}, filepath.Join(rulesDir(), "learn-devices.yaml"), false))
		Eventually(s).Should(gexec.Exit(0))
		Expect(flagged(logins)).To(BeEmpty(), "the learning rule only remembers")

		By("another process, with its own lease, reading payments only")
		payments := GinkgoT().TempDir()
		s = startCep(payments, "run", "--config", factsRun(payments, srv.Addr(), "payments", map[string]string{"payments": pay}, filepath.Join(rulesDir(), "payment-new-device.yaml"), false))
		Eventually(s).Should(gexec.Exit(0))
		Expect(flagged(payments)).To(Equal([]string{"u2/d9", "u3/d3"}), "d1 and d4 were learnt by the other process; d3's login failed")

		By("the same payments against an empty Redis: every device is new, so the spec can fail")
		empty := redistest.Start(GinkgoT())
		control := GinkgoT().TempDir()
		s = startCep(control, "run", "--config", factsRun(control, empty.Addr(), "payments", map[string]string{"payments": pay}, filepath.Join(rulesDir(), "payment-new-device.yaml"), false))
		Eventually(s).Should(gexec.Exit(0))
		Expect(flagged(control)).To(Equal([]string{"u1/d1", "u2/d9", "u3/d3", "u4/d4"}))
	})

	It("still sees remembered facts after a restart", func() {
		srv := redistest.Start(GinkgoT())
		data := GinkgoT().TempDir()
		// A followed input's newest event waits for a later one to pass
		// the allowed lateness, and a stream that never delivered holds
		// event time back: the inputs carry events no rule takes.
		auth := writeFile(data, "auth.jsonl", factsLogins+`{"id":"l9","ts":"2026-03-02T08:30:00Z","user":"u9","outcome":"failure"}`+"\n")
		pay := writeFile(data, "payments.jsonl", `{"id":"p0","ts":"2026-03-02T07:00:00Z","type":"refund","account_user":"u9"}`+"\n")
		dir := GinkgoT().TempDir()
		cfg := factsRun(dir, srv.Addr(), "fraud", map[string]string{"auth": auth, "payments": pay}, rulesDir(), true)
		rdb := redisClient(srv.Addr())

		By("a first run, following its inputs, learns the devices and is stopped")
		s := startCep(dir, "run", "--config", cfg)
		Eventually(func() int64 {
			n, _ := rdb.Exists(context.Background(), "cep:facts:set:known_devices:{u4}").Result()
			return n
		}).Should(Equal(int64(1)))
		s.Terminate()
		Eventually(s).Should(gexec.Exit())
		Expect(flagged(dir)).To(BeEmpty())

		By("the payments arrive; a second run resumes from its checkpoint and judges them")
		f, err := os.OpenFile(pay, os.O_APPEND|os.O_WRONLY, 0)
		Expect(err).NotTo(HaveOccurred())
		_, err = f.WriteString(factsPayments + `{"id":"p9","ts":"2026-03-02T09:30:00Z","type":"refund","account_user":"u9"}` + "\n")
		Expect(err).NotTo(HaveOccurred())
		Expect(f.Close()).To(Succeed())
		s = startCep(dir, "run", "--config", cfg)
		Eventually(func() []string { return flagged(dir) }).Should(Equal([]string{"u2/d9", "u3/d3"}))
		Consistently(func() []string { return flagged(dir) }, "500ms").Should(Equal([]string{"u2/d9", "u3/d3"}))
		s.Terminate()
		Eventually(s).Should(gexec.Exit())
		Expect(string(s.Err.Contents())).To(ContainSubstring("restored checkpoint"))
	})

	It("reads context another system keeps in Redis, through the key the config gives", func() {
		srv := redistest.Start(GinkgoT())
		rdb := redisClient(srv.Addr())
		Expect(rdb.HSet(context.Background(), "risk:u2", "tier", "high", "score", "0.93").Err()).To(Succeed())
		Expect(rdb.HSet(context.Background(), "risk:u3", "tier", "low").Err()).To(Succeed())
		data := GinkgoT().TempDir()
		pay := writeFile(data, "payments.jsonl", factsPayments)
		rules := writeFile(data, "rules/high-risk.yaml", `id: ctx.high-risk
title: Payment by a high-risk customer
streams: [payments]
by: [event.account_user]
match: context("customer_risk", event.account_user).?tier.orValue("") == "high"
alert:
  fields:
    user: event.account_user
    device: event.device_id
    score: double(context("customer_risk", event.account_user).?score.orValue("0"))
`)
		dir := GinkgoT().TempDir()
		cfg := factsRun(dir, srv.Addr(), "ctx", map[string]string{"payments": pay}, rules, false,
			"  contexts: {customer_risk: {key: \"risk:{id}\"}}\n")
		r := cep(dir, nil, "lint", "--config", cfg, rules)
		Expect(r.code).To(Equal(0), r.stdout+r.stderr)
		s := startCep(dir, "run", "--config", cfg)
		Eventually(s).Should(gexec.Exit(0))
		Expect(flagged(dir)).To(Equal([]string{"u2/d9"}))
		Expect(readFile(filepath.Join(dir, "alerts.jsonl"))).To(ContainSubstring(`"score":0.93`))
	})
})
