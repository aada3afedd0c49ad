package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
)

var _ = Describe("sequence, window and join rules split by key", func() {
	It("give the alerts of one detector, in the same order, from a config and from flags", func() {
		dir := GinkgoT().TempDir()
		root := repoRoot()
		var inputs []string
		for _, st := range []string{"payments", "auth", "account", "orders"} {
			inputs = append(inputs, "--input", st+"="+filepath.Join(fraudData, st+".jsonl"))
		}
		viaConfig := func(shards int) (string, string) {
			out := filepath.Join(dir, fmt.Sprintf("alerts-%d.jsonl", shards))
			cfg := fraudReplay(dir, fmt.Sprintf("cep-%d.yaml", shards), fmt.Sprintf("shards: %d", shards), out)
			r := cep(dir, nil, "run", "--config", cfg)
			Expect(r.code).To(Equal(0), r.stderr)
			b, err := os.ReadFile(out)
			Expect(err).NotTo(HaveOccurred())
			return string(b), r.stderr
		}
		one, _ := viaConfig(1)
		Expect(strings.Count(one, "\n")).To(BeNumerically(">", 100))
		three, log := viaConfig(3)
		Expect(log).To(ContainSubstring("rules split by key"))
		// A sequence, a windowed count, a top-N report and a join.
		Expect(log).To(ContainSubstring("fraud.impossible-travel"))
		Expect(log).To(ContainSubstring("fraud.cards-per-device"))
		Expect(log).To(ContainSubstring("fraud.top-spenders"))
		Expect(log).To(ContainSubstring("fraud.login-then-transfer"))
		Expect(three).To(Equal(one), "the alerts of three shards")

		flags := func(shards string) string {
			args := append([]string{"run", "--rules", filepath.Join(root, "examples/fraud/rules"),
				"--lists", filepath.Join(root, "examples/fraud/lists"), "--models", filepath.Join(root, "examples/fraud/models"),
				"--shards", shards}, inputs...)
			r := cep(dir, nil, args...)
			Expect(r.code).To(Equal(0), r.stderr)
			return r.stdout
		}
		plain := flags("1")
		Expect(strings.Count(plain, "\n")).To(BeNumerically(">", 100))
		Expect(flags("4")).To(Equal(plain), "the alerts of four shards")
	})

	It("pass the example's rule tests", func() {
		r := cep(repoRoot(), nil, "test", "examples/fraud", "--shards", "3")
		Expect(r.code).To(Equal(0), r.stdout+r.stderr)
	})

	It("restart from a checkpoint taken with three shards into two, losing no alert", func() {
		withShards := func(cfg string, n int) string {
			b, err := os.ReadFile(cfg)
			Expect(err).NotTo(HaveOccurred())
			text := regexp.MustCompile(`engine: \{allowed_lateness: 5s[^}]*\}`).ReplaceAllString(string(b), fmt.Sprintf("engine: {allowed_lateness: 5s, shards: %d}", n))
			Expect(text).To(ContainSubstring(fmt.Sprintf("shards: %d", n)))
			Expect(os.WriteFile(cfg, []byte(text), 0o644)).To(Succeed())
			return cfg
		}
		once := GinkgoT().TempDir()
		rcv := newSlowReceiver(0)
		s := startCep(once, "run", "--config", fraudRun(once, fraudData, rcv.srv.URL))
		Eventually(s, "2m").Should(gexec.Exit(0))
		want := archiveCounts(once)
		Expect(len(want)).To(BeNumerically(">", 200))

		dir := GinkgoT().TempDir()
		rcv = newSlowReceiver(10 * time.Millisecond)
		cfg := withShards(fraudRun(dir, fraudData, rcv.srv.URL), 3)
		s = startCep(dir, "run", "--config", cfg)
		Eventually(func() bool { return hasCheckpoint(filepath.Join(dir, "state")) }).Should(BeTrue())
		Eventually(func() int { return total(archiveCounts(dir)) }).Should(BeNumerically(">=", len(want)/3))
		s.Kill()
		Eventually(s).Should(gexec.Exit())
		Expect(len(rcv.ids())).To(BeNumerically("<", len(want)), "the kill came after the end: the spec proves nothing")

		s = startCep(dir, "run", "--config", withShards(cfg, 2))
		Eventually(s, "2m").Should(gexec.Exit(0))
		Expect(string(s.Err.Contents())).To(ContainSubstring("restored checkpoint"))
		Expect(keys(archiveCounts(dir))).To(ConsistOf(keys(want)), "the set of alert ids equals one run's without shards")
		Expect(keys(rcv.ids())).To(ConsistOf(keys(want)), "the webhook got every alert")
	})

	It("refuses a negative number of shards", func() {
		r := cep(GinkgoT().TempDir(), nil, "run", "--rules", filepath.Join(repoRoot(), "examples/fraud/rules"),
			"--input", "auth="+filepath.Join(fraudData, "auth.jsonl"), "--shards", "-1")
		Expect(r.code).NotTo(Equal(0))
		Expect(r.stderr).To(ContainSubstring("shards must not be negative"))
	})
})
