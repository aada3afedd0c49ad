// Package gitsrc reads rule directories from Git repositories with go-git,
// so no git binary is needed: a local repository (a path or a file:// URL)
// is read in place, a remote one (https, ssh) is cloned into memory and
// fetched on each poll. A commit's rules are written out to a directory
// named by the commit, where the ordinary loader (rules.Compiler.Load)
// reads them with their lists and models; every position in an error then
// names the commit.
package gitsrc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/memory"
)

// Auth says how to reach a remote repository: at most one of a token (for
// https, from an environment variable or a file) or an SSH key file.
type Auth struct {
	TokenEnv   string
	TokenFile  string
	SSHKeyFile string
	// Username goes with a token (default "git"; some hosts want
	// "x-access-token" or "oauth2") or a key (default "git").
	Username string
}

// Config is one Git rule source.
type Config struct {
	// URL is a local path, a file:// URL, or an https or ssh URL.
	URL string
	// Ref is a branch, tag or revision (HEAD~1); default HEAD.
	Ref string
	// Path is the rules directory inside the repository; default its root.
	Path string
	Auth Auth
	// Dir receives the checked-out commits, one directory each.
	Dir string
}

// MaxCheckoutBytes bounds what one checkout writes: a rules repository is
// small, and a wrong URL must not fill the disk.
const MaxCheckoutBytes = 256 << 20

// Repo is an opened rule source.
type Repo struct {
	cfg    Config
	repo   *git.Repository
	remote bool
	auth   transport.AuthMethod
	mu     sync.Mutex
}

// Open opens (a local repository) or clones (a remote one) the source.
func Open(ctx context.Context, cfg Config) (*Repo, error) {
	if cfg.Dir == "" {
		return nil, errors.New("git: no directory for checkouts")
	}
	cfg.Path = strings.Trim(path.Clean("/"+filepath.ToSlash(cfg.Path)), "/")
	r := &Repo{cfg: cfg}
	if local, ok := localPath(cfg.URL); ok {
		repo, err := git.PlainOpenWithOptions(local, &git.PlainOpenOptions{DetectDotGit: true})
		if err != nil {
			return nil, fmt.Errorf("git %s: %w", cfg.URL, err)
		}
		r.repo = repo
		return r, nil
	}
	auth, err := cfg.Auth.method()
	if err != nil {
		return nil, fmt.Errorf("git %s: auth: %w", cfg.URL, err)
	}
	r.auth, r.remote = auth, true
	repo, err := git.CloneContext(ctx, memory.NewStorage(), nil, &git.CloneOptions{URL: cfg.URL, Auth: auth, Tags: git.AllTags, NoCheckout: true})
	if err != nil {
		return nil, fmt.Errorf("git %s: clone: %w", cfg.URL, err)
	}
	r.repo = repo
	return r, nil
}

// OpenAt opens the local repository holding dir, for backtests that name
// a revision of the rules they run: it returns the repository and dir's
// path inside it.
func OpenAt(dir, checkouts string) (*Repo, string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, "", err
	}
	repo, err := git.PlainOpenWithOptions(abs, &git.PlainOpenOptions{DetectDotGit: true})
	if err != nil {
		return nil, "", fmt.Errorf("%s: not inside a Git repository: %w", dir, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", dir, err)
	}
	root := wt.Filesystem.Root()
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	if a, err := filepath.EvalSymlinks(abs); err == nil {
		abs = a
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil || strings.HasPrefix(rel, "..") {
		return nil, "", fmt.Errorf("%s is not inside the repository at %s", dir, root)
	}
	if rel == "." {
		rel = ""
	}
	return &Repo{cfg: Config{URL: root, Path: filepath.ToSlash(rel), Dir: checkouts}, repo: repo}, filepath.ToSlash(rel), nil
}

// localPath tells a local repository from a remote URL.
func localPath(url string) (string, bool) {
	if p, ok := strings.CutPrefix(url, "file://"); ok {
		return p, true
	}
	if strings.Contains(url, "://") {
		return "", false
	}
	// scp-like ssh: user@host:path
	if i := strings.IndexByte(url, ':'); i > 0 && !strings.ContainsAny(url[:i], `/\`) && !filepath.IsAbs(url) {
		return "", false
	}
	return url, true
}

func (a Auth) method() (transport.AuthMethod, error) {
	n := 0
	for _, s := range []string{a.TokenEnv, a.TokenFile, a.SSHKeyFile} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return nil, errors.New("give one of token_env, token_file and ssh_key_file")
	}
	user := a.Username
	if user == "" {
		user = "git"
	}
	switch {
	case a.TokenEnv != "":
		tok := strings.TrimSpace(os.Getenv(a.TokenEnv))
		if tok == "" {
			return nil, fmt.Errorf("environment variable %s is empty", a.TokenEnv)
		}
		return &http.BasicAuth{Username: user, Password: tok}, nil
	case a.TokenFile != "":
		b, err := os.ReadFile(a.TokenFile)
		if err != nil {
			return nil, err
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return nil, fmt.Errorf("%s is empty", a.TokenFile)
		}
		return &http.BasicAuth{Username: user, Password: tok}, nil
	case a.SSHKeyFile != "":
		return ssh.NewPublicKeysFromFile(user, a.SSHKeyFile, "")
	}
	return nil, nil
}

// Resolve fetches a remote source's news and returns the commit ref names
// now (cfg.Ref when ref is "").
func (r *Repo) Resolve(ctx context.Context, ref string) (plumbing.Hash, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ref == "" {
		ref = r.cfg.Ref
	}
	if ref == "" {
		ref = "HEAD"
	}
	if r.remote {
		err := r.repo.FetchContext(ctx, &git.FetchOptions{
			Auth:     r.auth,
			RefSpecs: []config.RefSpec{"+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"},
			Force:    true,
		})
		if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
			return plumbing.ZeroHash, fmt.Errorf("git %s: fetch: %w", r.cfg.URL, err)
		}
		for _, cand := range []string{"refs/remotes/origin/" + ref, "refs/tags/" + ref} {
			if h, err := r.repo.ResolveRevision(plumbing.Revision(cand)); err == nil {
				return r.peel(*h)
			}
		}
	}
	h, err := r.repo.ResolveRevision(plumbing.Revision(ref))
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("git %s: ref %q: %w", r.cfg.URL, ref, err)
	}
	return r.peel(*h)
}

// peel turns an annotated tag's hash into its commit's.
func (r *Repo) peel(h plumbing.Hash) (plumbing.Hash, error) {
	if tag, err := r.repo.TagObject(h); err == nil {
		c, err := tag.Commit()
		if err != nil {
			return plumbing.ZeroHash, err
		}
		return c.Hash, nil
	}
	return h, nil
}

// Checkout is one commit's rules written out.
type Checkout struct {
	Commit plumbing.Hash
	// Root is the directory the commit was written to; Rules is the
	// rules directory inside it.
	Root, Rules string
}

// Short is the commit's abbreviated hash, as alerts name it.
func (c *Checkout) Short() string { return c.Commit.String()[:12] }

// Checkout writes the commit's rules directory, and the directory around
// it (lists and models usually sit beside rules), under Dir/<commit>.
// An existing complete checkout is reused.
func (r *Repo) Checkout(h plumbing.Hash) (*Checkout, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	root := filepath.Join(r.cfg.Dir, h.String()[:12])
	co := &Checkout{Commit: h, Root: root, Rules: filepath.Join(root, filepath.FromSlash(r.cfg.Path))}
	if _, err := os.Stat(filepath.Join(root, ".complete")); err == nil {
		return co, nil
	}
	commit, err := r.repo.CommitObject(h)
	if err != nil {
		return nil, fmt.Errorf("git %s: commit %s: %w", r.cfg.URL, h, err)
	}
	tree, err := commit.Tree()
	if err != nil {
		return nil, fmt.Errorf("git %s: commit %s: %w", r.cfg.URL, h, err)
	}
	// The rules directory and its parent: lists/ and models/ beside rules/.
	base := ""
	if r.cfg.Path != "" {
		base = path.Dir(r.cfg.Path)
		if base == "." {
			base = ""
		}
		if _, err := tree.FindEntry(r.cfg.Path); err != nil {
			return nil, fmt.Errorf("git %s: commit %s has no %s", r.cfg.URL, h.String()[:12], r.cfg.Path)
		}
	}
	if base != "" {
		if tree, err = tree.Tree(base); err != nil {
			return nil, fmt.Errorf("git %s: commit %s: %s: %w", r.cfg.URL, h.String()[:12], base, err)
		}
	}
	tmp := root + ".tmp"
	_ = os.RemoveAll(tmp)
	var written int64
	err = tree.Files().ForEach(func(f *object.File) error {
		if f.Mode != filemode.Regular && f.Mode != filemode.Executable {
			return nil // symlinks and submodules are not followed
		}
		written += f.Size
		if written > MaxCheckoutBytes {
			return fmt.Errorf("more than %d bytes under %s", MaxCheckoutBytes, r.cfg.Path)
		}
		dst := filepath.Join(tmp, filepath.FromSlash(base), filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		rd, err := f.Reader()
		if err != nil {
			return err
		}
		defer rd.Close()
		out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, rd); err != nil {
			_ = out.Close()
			return err
		}
		return out.Close()
	})
	if err == nil {
		err = os.MkdirAll(filepath.Join(tmp, filepath.FromSlash(r.cfg.Path)), 0o755)
	}
	if err == nil {
		err = os.WriteFile(filepath.Join(tmp, ".complete"), []byte(h.String()+"\n"), 0o644)
	}
	if err == nil {
		_ = os.RemoveAll(root)
		err = os.Rename(tmp, root)
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
		return nil, fmt.Errorf("git %s: writing out commit %s: %w", r.cfg.URL, h.String()[:12], err)
	}
	return co, nil
}

// Prune removes checkouts other than the ones named, so that a service
// polling for months keeps only what it runs.
func (r *Repo) Prune(keep ...*Checkout) {
	entries, err := os.ReadDir(r.cfg.Dir)
	if err != nil {
		return
	}
	kept := map[string]bool{}
	for _, k := range keep {
		if k != nil {
			kept[filepath.Base(k.Root)] = true
		}
	}
	for _, e := range entries {
		if !kept[e.Name()] && len(strings.TrimSuffix(e.Name(), ".tmp")) == 12 {
			_ = os.RemoveAll(filepath.Join(r.cfg.Dir, e.Name()))
		}
	}
}

// Path is the rules directory inside the repository.
func (r *Repo) Path() string { return r.cfg.Path }

// URL is the source's URL as configured.
func (r *Repo) URL() string { return r.cfg.URL }
