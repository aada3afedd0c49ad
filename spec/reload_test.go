package spec

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
)

// gitRepo is a Git repository a spec commits rules to, with go-git (no
// git binary).
type gitRepo struct {
	dir  string
	repo *git.Repository
	n    int
}

func newGitRepo() *gitRepo {
	GinkgoHelper()
	dir := GinkgoT().TempDir()
	repo, err := git.PlainInit(dir, false)
	Expect(err).NotTo(HaveOccurred())
	return &gitRepo{dir: dir, repo: repo}
}

// commit writes files (relative to the repository) and commits them; an
// empty content removes the file.
func (g *gitRepo) commit(msg string, files map[string]string) {
	GinkgoHelper()
	wt, err := g.repo.Worktree()
	Expect(err).NotTo(HaveOccurred())
	for name, content := range files {
		p := filepath.Join(g.dir, filepath.FromSlash(name))
		if content == "" {
			_, err := wt.Remove(name)
			Expect(err).NotTo(HaveOccurred())
			continue
		}
		Expect(os.MkdirAll(filepath.Dir(p), 0o755)).To(Succeed())
		Expect(os.WriteFile(p, []byte(content), 0o644)).To(Succeed())
		_, err := wt.Add(name)
		Expect(err).NotTo(HaveOccurred())
	}
	g.n++
	_, err = wt.Commit(msg, &git.CommitOptions{Author: &object.Signature{Name: "spec", Email: "spec@example.com", When: time.Unix(1_767_225_600+int64(g.n), 0)}})
	Expect(err).NotTo(HaveOccurred())
}

// freeAddr returns a loopback address no one listens on.
func freeAddr() string {
	GinkgoHelper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	addr := ln.Addr().String()
	Expect(ln.Close()).To(Succeed())
	return addr
}

func httpGet(url, token string) (int, string) {
	req, err := http.NewRequest("GET", url, nil)
	Expect(err).NotTo(HaveOccurred())
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const gitSeqRule = `id: auth.fail-fail-ok
title: Two failures, then a success
streams: [auth]
by: [event.user]
sequence:
  within: 1h
  steps:
    - {name: fail, where: event.outcome == "failure", times: 2}
    - {name: ok, where: event.outcome == "success"}
`

const gitCountRule = `id: auth.many-failures
title: Many failures
streams: [auth]
by: [event.user]
aggregate:
  window: {type: sliding, size: 1h}
  where: event.outcome == "failure"
  measures: {n: count()}
  having: n >= 5
`

const gitLockedRule = `id: auth.locked
title: Account locked
streams: [auth]
by: [event.user]
match: event.outcome == "locked"
`

// alertRules reads the file sink's alerts: rule and evidence ids.
func alertRules(dir string) []string {
	b, _ := os.ReadFile(filepath.Join(dir, "alerts.jsonl"))
	var out []string
	for _, a := range alertsOf(wholeLines(b)) {
		out = append(out, fmt.Sprintf("%s[%s]", a["rule"], strings.Join(evidenceIDs(a), ",")))
	}
	return out
}

var _ = Describe("rules from Git, reloaded while running", func() {
	auth := func(id string, sec int, user, outcome string) string {
		return fmt.Sprintf(`{"id":%q,"ts":%d,"user":%q,"outcome":%q}`, id, 1_767_225_600+sec, user, outcome)
	}
	It("reloads a commit keeping the state of unchanged rules, keeps the old set on a broken commit, and recovers", func() {
		repo := newGitRepo()
		repo.commit("first rules", map[string]string{"rules/seq.yaml": gitSeqRule, "rules/count.yaml": gitCountRule})
		dir := GinkgoT().TempDir()
		admin, metrics := freeAddr(), freeAddr()
		writeFile(dir, "auth.jsonl", "")
		writeFile(dir, "cep.yaml", `rules:
  - git: {url: `+repo.dir+`, path: rules, interval: 100ms}
engine: {allowed_lateness: 0s}
sources:
  - {type: file, path: auth.jsonl, stream: auth, follow: true, poll_interval: 20ms}
sinks:
  - {name: archive, type: file, file: {path: alerts.jsonl}}
metrics: {listen: `+metrics+`}
admin: {listen: `+admin+`}
state: {dir: state, interval: 1h}
`)
		s := startCep(dir, "run", "--config", "cep.yaml")
		Eventually(func() int { c, _ := httpGet("http://"+metrics+"/readyz", ""); return c }).Should(Equal(200))

		By("starting a sequence before the reload")
		appendLines(filepath.Join(dir, "auth.jsonl"), auth("f1", 1, "u", "failure"), auth("f2", 2, "u", "failure"), auth("t1", 3, "z", "tick"))
		Eventually(func() string {
			_, b := httpGet("http://"+admin+"/v1/rules/auth.fail-fail-ok/explain?key=u", "")
			return b
		}).Should(ContainSubstring(`"event": "f2"`))

		By("committing a new threshold and a new rule")
		repo.commit("lower the threshold, add locked", map[string]string{
			"rules/count.yaml":  strings.Replace(gitCountRule, "n >= 5", "n >= 2", 1),
			"rules/locked.yaml": gitLockedRule,
		})
		Eventually(func() string { _, b := httpGet("http://"+admin+"/v1/rules", ""); return b }).Should(ContainSubstring(`"id": "auth.locked"`))
		Eventually(s.Err).Should(gbytes.Say("rules reloaded"))

		By("completing the sequence and firing the new rule after the reload")
		appendLines(filepath.Join(dir, "auth.jsonl"), auth("s1", 10, "u", "success"), auth("l1", 11, "v", "locked"), auth("t2", 12, "z", "tick"))
		Eventually(func() []string { return alertRules(dir) }).Should(ContainElements("auth.fail-fail-ok[f1,f2,s1]", "auth.locked[l1]"))
		_, rulesBody := httpGet("http://"+admin+"/v1/rules", "")
		Expect(rulesBody).To(MatchRegexp(`"version": "[0-9a-f]{12}@[0-9a-f]{12}"`), "rule_version names the content hash and the commit")
		b, _ := os.ReadFile(filepath.Join(dir, "alerts.jsonl"))
		Expect(string(b)).To(MatchRegexp(`"rule_version":"[0-9a-f]{12}@[0-9a-f]{12}"`))

		By("committing a broken rule: the old set keeps running")
		repo.commit("break a rule", map[string]string{"rules/bad.yaml": "id: auth.bad\ntitle: Bad\nstreams: [auth]\nmatch: evnt.outcome == \"x\"\n"})
		Eventually(s.Err).Should(gbytes.Say(`rules reload failed`))
		Eventually(func() string { _, b := httpGet("http://"+metrics+"/readyz", ""); return b }).Should(And(ContainSubstring(`"status": "degraded"`), MatchRegexp(`bad\.yaml:4:8`)))
		_, rulesBody = httpGet("http://"+admin+"/v1/rules", "")
		Expect(rulesBody).To(MatchRegexp(`bad\.yaml:4:8`))
		Expect(string(s.Err.Contents())).To(MatchRegexp(`bad\.yaml:4:8`))
		appendLines(filepath.Join(dir, "auth.jsonl"), auth("l2", 20, "w", "locked"), auth("t3", 21, "z", "tick"))
		Eventually(func() []string { return alertRules(dir) }).Should(ContainElement("auth.locked[l2]"))
		_, m := httpGet("http://"+metrics+"/metrics", "")
		Expect(m).To(ContainSubstring(`cep_reloads_total{outcome="failed"}`))
		Expect(m).To(ContainSubstring(`cep_rules_reload_ok 0`))

		By("committing the fix: the service recovers")
		repo.commit("fix the rule", map[string]string{"rules/bad.yaml": "id: auth.bad\ntitle: Bad\nstreams: [auth]\nmatch: event.outcome == \"bad\"\n"})
		Eventually(func() string { _, b := httpGet("http://"+metrics+"/readyz", ""); return b }).Should(ContainSubstring(`"status": "ready"`))
		appendLines(filepath.Join(dir, "auth.jsonl"), auth("b1", 30, "x", "bad"), auth("t4", 31, "z", "tick"))
		Eventually(func() []string { return alertRules(dir) }).Should(ContainElement("auth.bad[b1]"))

		By("SIGHUP reloads instead of stopping")
		s.Signal(syscall.SIGHUP)
		Eventually(s.Err).Should(gbytes.Say("SIGHUP received: reloading the rules"))
		Consistently(s, 300*time.Millisecond).ShouldNot(gexec.Exit())
		s.Terminate()
		Eventually(s).Should(gexec.Exit(0))
	})
})

var _ = Describe("the admin API and ingest", func() {
	It("refuses to listen beyond loopback without a token, and takes requests with one", func() {
		dir := GinkgoT().TempDir()
		writeFile(dir, "rules/locked.yaml", gitLockedRule)
		writeFile(dir, "auth.jsonl", "")
		port := strings.Split(freeAddr(), ":")[1]
		cfg := func(admin string) {
			writeFile(dir, "cep.yaml", `rules: [rules]
sources: [{type: file, path: auth.jsonl, stream: auth, follow: true}]
sinks: [{name: archive, type: file, file: {path: alerts.jsonl}}]
admin: `+admin+`
`)
		}
		cfg(`{listen: "0.0.0.0:` + port + `"}`)
		r := cep(dir, nil, "run", "--config", "cep.yaml")
		Expect(r.code).To(Equal(2))
		Expect(r.stderr).To(ContainSubstring("not a loopback address and no token is set"))

		cfg(`{listen: "0.0.0.0:` + port + `", token_env: CEP_SPEC_TOKEN}`)
		s := startCepEnv(dir, []string{"CEP_SPEC_TOKEN=spec-token"}, "run", "--config", "cep.yaml")
		url := "http://127.0.0.1:" + port + "/v1/rules"
		Eventually(func() int { c, _ := httpGet(url, "spec-token"); return c }).Should(Equal(200))
		c, _ := httpGet(url, "")
		Expect(c).To(Equal(401))
		c, _ = httpGet(url, "wrong")
		Expect(c).To(Equal(401))
		Eventually(s.Err).Should(gbytes.Say("admin.listen is not a loopback address"))
		s.Terminate()
		Eventually(s).Should(gexec.Exit(0))
	})

	It("serves the runtime's profiles when asked to, behind the token, and never the command line", func() {
		dir := GinkgoT().TempDir()
		writeFile(dir, "rules/locked.yaml", gitLockedRule)
		writeFile(dir, "auth.jsonl", "")
		admin := freeAddr()
		writeFile(dir, "cep.yaml", `rules: [rules]
sources: [{type: file, path: auth.jsonl, stream: auth, follow: true}]
sinks: [{name: archive, type: file, file: {path: alerts.jsonl}}]
admin: {listen: `+admin+`, token_env: CEP_SPEC_TOKEN, profiling: true}
`)
		s := startCepEnv(dir, []string{"CEP_SPEC_TOKEN=spec-token"}, "run", "--config", "cep.yaml")
		base := "http://" + admin + "/debug/pprof/"
		Eventually(func() int { c, _ := httpGet(base, "spec-token"); return c }).Should(Equal(200))
		c, b := httpGet(base+"goroutine?debug=1", "spec-token")
		Expect(c).To(Equal(200))
		Expect(b).To(ContainSubstring("cep/runtime.(*Runtime).Run"))
		c, b = httpGet(base+"heap?debug=1", "spec-token")
		Expect(c).To(Equal(200))
		Expect(b).To(HavePrefix("heap profile:"))
		c, _ = httpGet(base+"heap", "")
		Expect(c).To(Equal(401))
		c, _ = httpGet(base+"cmdline", "spec-token")
		Expect(c).To(Equal(404))
		s.Terminate()
		Eventually(s).Should(gexec.Exit(0))
	})

	It("answers 429 under back-pressure and loses nothing it accepted", func() {
		dir := GinkgoT().TempDir()
		writeFile(dir, "rules/all.yaml", "id: all\ntitle: Every event\nstreams: [auth]\nmatch: event.id != \"\"\n")
		admin := freeAddr()
		writeFile(dir, "cep.yaml", `rules: [rules]
engine: {allowed_lateness: 0s}
sources: []
ingest: {streams: [auth], max_pending_events: 8}
sinks: [{name: archive, type: file, file: {path: alerts.jsonl}}]
admin: {listen: `+admin+`, rate: 100000}
`)
		s := startCep(dir, "run", "--config", "cep.yaml")
		Eventually(func() int { c, _ := httpGet("http://"+admin+"/v1/status", ""); return c }).Should(Equal(200))
		var mu sync.Mutex
		accepted, limited := map[string]bool{}, 0
		var wg sync.WaitGroup
		// Requests of 5 events under a bound of 8: any two in flight at
		// once meet back-pressure.
		for w := range 32 {
			wg.Add(1)
			go func() {
				defer GinkgoRecover()
				defer wg.Done()
				for i := range 20 {
					var body bytes.Buffer
					var ids []string
					for k := range 5 {
						id := fmt.Sprintf("w%d-%d-%d", w, i, k)
						ids = append(ids, id)
						fmt.Fprintf(&body, `{"id":%q,"ts":%d}`+"\n", id, 1_767_225_600)
					}
					resp, err := http.Post("http://"+admin+"/v1/events/auth", "application/x-ndjson", &body)
					Expect(err).NotTo(HaveOccurred())
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					mu.Lock()
					switch resp.StatusCode {
					case 200:
						for _, id := range ids {
							accepted[id] = true
						}
					case 429:
						limited++
						Expect(resp.Header.Get("Retry-After")).NotTo(BeEmpty())
					default:
						Fail(fmt.Sprintf("status %d", resp.StatusCode))
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		Expect(limited).To(BeNumerically(">", 0), "no request met back-pressure")
		Expect(accepted).NotTo(BeEmpty())
		// A later event moves event time past all of them.
		Eventually(func() int {
			resp, err := http.Post("http://"+admin+"/v1/events/auth", "application/x-ndjson", strings.NewReader(`{"id":"flush","ts":1767225700}`))
			Expect(err).NotTo(HaveOccurred())
			resp.Body.Close()
			return resp.StatusCode
		}).Should(Equal(200))
		seen := func() map[string]bool {
			b, _ := os.ReadFile(filepath.Join(dir, "alerts.jsonl"))
			out := map[string]bool{}
			for _, a := range alertsOf(wholeLines(b)) {
				for _, id := range evidenceIDs(a) {
					out[id] = true
				}
			}
			return out
		}
		Eventually(func() int { return len(seen()) }).Should(BeNumerically(">=", len(accepted)))
		got := seen()
		for id := range accepted {
			Expect(got).To(HaveKey(id), "accepted event %s has no alert", id)
		}
		Expect(len(got)).To(Equal(len(accepted)), "an event answered 429 was processed")
		s.Terminate()
		Eventually(s).Should(gexec.Exit(0))
	})
})

// copyTree copies a directory.
func copyTree(src, dst string) {
	GinkgoHelper()
	Expect(filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})).To(Succeed())
}

var _ = Describe("cep backtest", Ordered, func() {
	var repo *gitRepo
	var data string
	BeforeAll(func() {
		data = fraudData
		repo = newGitRepo()
		files := map[string]string{}
		for _, sub := range []string{"rules", "lists", "models"} {
			copyTree(filepath.Join(repoRoot(), "examples", "fraud", sub), filepath.Join(repo.dir, "fraud", sub))
			Expect(filepath.WalkDir(filepath.Join(repo.dir, "fraud", sub), func(p string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					rel, _ := filepath.Rel(repo.dir, p)
					b, _ := os.ReadFile(p)
					files[filepath.ToSlash(rel)] = string(b)
				}
				return err
			})).To(Succeed())
		}
		repo.commit("the fraud example", files)
		rule, err := os.ReadFile(filepath.Join(repo.dir, "fraud", "rules", "transfer-velocity.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(string(rule)).To(ContainSubstring("having:"))
		changed := strings.Replace(string(rule), "total > 10000.0", "total > 5000.0", 1)
		Expect(changed).NotTo(Equal(string(rule)), "the rule's threshold moved: update this spec")
		repo.commit("lower the transfer velocity threshold", map[string]string{"fraud/rules/transfer-velocity.yaml": changed})
	})
	args := func(extra ...string) []string {
		a := []string{"backtest", "--rules", "fraud/rules", "--compare", "HEAD~1"}
		for _, s := range []string{"payments", "auth", "account", "orders"} {
			a = append(a, "--input", filepath.Join(data, s+".jsonl"))
		}
		return append(a, extra...)
	}
	It("prints the alerts a change gains and loses, per rule", func() {
		r := cep(repo.dir, nil, args()...)
		Expect(r.code).To(Equal(0), r.stderr)
		Expect(r.stdout).To(ContainSubstring("compared with HEAD~1"))
		Expect(r.stdout).To(MatchRegexp(`(?m)^fraud\.transfer-velocity\s.*\+[1-9]\d*\s+-\d+`))
		Expect(r.stdout).To(MatchRegexp(`(?m)^fraud\.transfer-velocity: [1-9]\d* gained, \d+ lost$`))
		Expect(r.stdout).To(MatchRegexp(`(?m)^fraud\.tor-login\s.*\+0\s+-0`))
	})
	It("writes stable JSON", func() {
		a := cep(repo.dir, nil, args("--format", "json")...)
		b := cep(repo.dir, nil, args("--format", "json")...)
		Expect(a.code).To(Equal(0), a.stderr)
		Expect(a.stdout).To(Equal(b.stdout))
		var rep struct {
			PerRule []struct {
				Rule    string
				Alerts  int
				TopKeys []struct{ Key string } `json:"top_keys"`
				Compare struct{ Before, After, Gained, Lost int }
			} `json:"per_rule"`
		}
		Expect(json.Unmarshal([]byte(a.stdout), &rep)).To(Succeed())
		found := false
		for _, r := range rep.PerRule {
			Expect(len(r.TopKeys)).To(BeNumerically("<=", 5))
			if r.Rule == "fraud.transfer-velocity" {
				found = true
				Expect(r.Compare.Gained).To(BeNumerically(">", 0))
				Expect(r.Compare.After - r.Compare.Before).To(Equal(r.Compare.Gained - r.Compare.Lost))
			}
		}
		Expect(found).To(BeTrue())
	})
})
