package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/gitsrc"
	"github.com/cep-project/cep/rules/reflist"
	"github.com/cep-project/cep/runtime"
	"github.com/cep-project/cep/server"
	"github.com/cep-project/cep/source"
	"golang.org/x/time/rate"
)

// defaultGitInterval is how often a Git rule source is polled unless
// configured.
const defaultGitInterval = time.Minute

// ruleSources are the rules entries of a config: plain directories and
// Git repositories, resolved to paths the loader reads.
type ruleSources struct {
	a     *app
	cfg   *config
	flags ruleFlags
	gits  []*gitSource
	// tmp is a temporary directory for checkouts, removed by close.
	tmp string

	mu sync.Mutex
	// attempted is the revision the last load read, loaded or not: a
	// poll reloads only when it moves.
	attempted string
}

type gitSource struct {
	index    int
	repo     *gitsrc.Repo
	interval time.Duration
	current  *gitsrc.Checkout
}

// openRuleSources opens (clones) every Git source of the config.
func (a *app) openRuleSources(ctx context.Context, cfg *config, flags ruleFlags) (*ruleSources, error) {
	s := &ruleSources{a: a, cfg: cfg, flags: flags}
	for i, r := range cfg.Rules {
		if r.Git == nil {
			continue
		}
		g := r.Git
		dir := cfg.resolve(g.Dir)
		if dir == "" {
			sum := sha256.Sum256([]byte(g.URL + "\x00" + g.Path))
			name := hex.EncodeToString(sum[:])[:12]
			switch {
			case cfg.State.Dir != "":
				dir = filepath.Join(cfg.resolve(cfg.State.Dir), "git", name)
			default:
				if s.tmp == "" {
					t, err := os.MkdirTemp("", "cep-git-")
					if err != nil {
						return nil, err
					}
					s.tmp = t
				}
				dir = filepath.Join(s.tmp, name)
			}
		}
		url := g.URL
		if !strings.Contains(url, "://") && !strings.Contains(url, "@") {
			url = cfg.resolve(url)
		}
		auth := gitsrc.Auth{TokenEnv: g.Auth.TokenEnv, TokenFile: cfg.resolve(g.Auth.TokenFile), SSHKeyFile: cfg.resolve(g.Auth.SSHKeyFile), Username: g.Auth.Username}
		repo, err := gitsrc.Open(ctx, gitsrc.Config{URL: url, Ref: g.Ref, Path: g.Path, Auth: auth, Dir: dir})
		if err != nil {
			s.close()
			return nil, exitWith(exitUsage, "%s: rules[%d]: %v", cfg.path, i, err)
		}
		interval := defaultGitInterval
		if g.Interval != nil {
			interval = time.Duration(*g.Interval)
		}
		s.gits = append(s.gits, &gitSource{index: i, repo: repo, interval: interval})
	}
	return s, nil
}

func (s *ruleSources) close() {
	if s.tmp != "" {
		_ = os.RemoveAll(s.tmp)
	}
}

// pollInterval is the shortest interval of the Git sources; 0 when none
// is polled.
func (s *ruleSources) pollInterval() time.Duration {
	var every time.Duration
	for _, g := range s.gits {
		if g.interval > 0 && (every == 0 || g.interval < every) {
			every = g.interval
		}
	}
	return every
}

// resolve fetches every Git source and writes out the commit its ref
// names now; it returns the paths to load, in config order, and the
// revision they make up.
func (s *ruleSources) resolve(ctx context.Context) ([]string, []*gitsrc.Checkout, string, error) {
	cos := make([]*gitsrc.Checkout, len(s.cfg.Rules))
	var rev []string
	for _, g := range s.gits {
		h, err := g.repo.Resolve(ctx, "")
		if err != nil {
			return nil, nil, "", err
		}
		co, err := g.repo.Checkout(h)
		if err != nil {
			return nil, nil, "", err
		}
		cos[g.index] = co
		rev = append(rev, fmt.Sprintf("%s@%s", g.repo.URL(), co.Short()))
	}
	var paths []string
	for i, r := range s.cfg.Rules {
		if r.Git != nil {
			paths = append(paths, cos[i].Rules)
		} else {
			paths = append(paths, s.cfg.resolve(r.Dir))
		}
	}
	return paths, cos, strings.Join(rev, " "), nil
}

// stamp names the commit on every rule read from a checkout.
func stamp(set *rules.Set, cos []*gitsrc.Checkout) {
	for _, r := range set.Rules {
		for _, co := range cos {
			if co != nil && strings.HasPrefix(r.File, co.Root+string(filepath.Separator)) {
				r.Revision = co.Short()
			}
		}
	}
}

// initial loads the rules the service starts with, as `cep run` always
// has: problems are printed and the rules that load run.
func (s *ruleSources) initial(ctx context.Context) (*rules.Set, *rules.Compiler, string, error) {
	paths, cos, rev, err := s.resolve(ctx)
	if err != nil {
		return nil, nil, "", exitWith(exitUsage, "%s: rules: %v", s.cfg.path, err)
	}
	set, comp, err := s.a.loadRules(paths, s.flags)
	if err != nil {
		return nil, nil, "", err
	}
	stamp(set, cos)
	s.mu.Lock()
	s.attempted = rev
	for _, g := range s.gits {
		g.current = cos[g.index]
	}
	s.mu.Unlock()
	return set, comp, rev, nil
}

// load is the reload's Loader: a complete set or an error listing every
// problem with its position. A poll does nothing when no Git source has
// moved since the last attempt.
func (s *ruleSources) load(ctx context.Context, changedOnly bool) (*runtime.RuleSet, error) {
	paths, cos, rev, err := s.resolve(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if changedOnly && rev == s.attempted {
		s.mu.Unlock()
		return nil, nil
	}
	s.attempted = rev
	s.mu.Unlock()
	set, warnings, err := compileStrict(paths, s.flags, s.a)
	if err != nil {
		return nil, err
	}
	stamp(set, cos)
	for _, g := range s.gits {
		g.current = cos[g.index]
		g.repo.Prune(g.current)
	}
	return &runtime.RuleSet{Rules: set.Rules, Revision: rev, Warnings: warnings}, nil
}

// compileStrict loads rules, lists and models afresh and fails on any
// error: a reload runs a whole set or none of it.
func compileStrict(paths []string, f ruleFlags, a *app) (*rules.Set, []error, error) {
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return nil, nil, err
		}
	}
	lists, err := reflist.Load(f.listsDir(paths))
	if err != nil {
		return nil, nil, err
	}
	models, err := rules.LoadModels(f.modelsDir(paths))
	if err != nil {
		return nil, nil, err
	}
	c, err := rules.NewCompiler(rules.Options{Lists: lists, Models: models, CostLimit: f.costLimit, MissingFields: f.missingFields, Logger: a.log, Facts: f.facts})
	if err != nil {
		return nil, nil, err
	}
	_, onlineErrs := c.LoadOnlineModels(f.modelsDir(paths))
	set := c.Load(paths...)
	var errs, warnings []error
	for _, e := range append(onlineErrs, set.Errors...) {
		if yamlx.IsWarning(e) {
			warnings = append(warnings, e)
		} else {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	if len(set.Rules) == 0 {
		return nil, nil, fmt.Errorf("no rule loaded from %v", paths)
	}
	warnings = append(warnings, c.Lint(set)...)
	rules.Compact(set.Rules)
	return set, warnings, nil
}

// ingestSource builds the HTTP ingest source of the config, or nil.
func (c *config) ingestSource() *server.Ingest {
	ic := c.Ingest
	if ic == nil {
		return nil
	}
	in := &server.Ingest{SourceName: "http", MaxBody: int64(ic.MaxBody), MaxPending: ic.MaxPendingEvents}
	for _, s := range ic.Streams {
		in.Specs = append(in.Specs, source.Spec{Name: "http", Stream: s.Stream, TimeField: s.TimeField, IDField: s.IDField})
	}
	return in
}

// defaultAdminListen is the admin API's address unless configured.
const defaultAdminListen = "127.0.0.1:9465"

// serveAdmin starts the admin API (and ingest) on its own listener.
func (a *app) serveAdmin(cfg *config, admin *server.Admin, ingest *server.Ingest) (*http.Server, error) {
	ac := cfg.Admin
	addr := ac.Listen
	if addr == "" {
		addr = defaultAdminListen
	}
	token, err := server.Token(ac.TokenEnv, cfg.resolve(ac.TokenFile))
	if err != nil {
		return nil, exitWith(exitUsage, "%s: admin: %v", cfg.path, err)
	}
	if err := server.CheckExposure(addr, token); err != nil {
		return nil, exitWith(exitUsage, "%s: admin.listen: %v", cfg.path, err)
	}
	perSec := ac.Rate
	if perSec <= 0 {
		perSec = 50
	}
	guard := &server.Guard{Token: token, Limiter: rate.NewLimiter(rate.Limit(perSec), int(max(1, 2*perSec))), MaxBody: int64(ac.MaxBody)}
	if ingest != nil {
		// Ingest bounds its own bodies, larger than the API's.
		guard.MaxBody = max(guard.MaxBody, ingest.MaxBody, 8<<20)
	}
	srv, err := server.Serve(addr, guard.Wrap(admin.Handler(ingest)))
	if err != nil {
		return nil, exitWith(exitRuntime, "admin.listen: %v", err)
	}
	a.log.Info("serving the admin API", "address", srv.Addr, "token", token != "", "ingest", ingest != nil, "profiling", admin.Profiling)
	if !server.Loopback(addr) {
		a.log.Warn("admin.listen is not a loopback address: the admin API (behind its token) is open to the network", "listen", addr)
	}
	return srv, nil
}
