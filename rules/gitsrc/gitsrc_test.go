package gitsrc

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	"github.com/go-git/go-git/v5/plumbing/transport/server"
)

// commitFiles writes files into the repository's worktree (a nil content
// deletes) and commits them.
func commitFiles(t *testing.T, repo *git.Repository, msg string, files map[string]string) plumbing.Hash {
	t.Helper()
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	root := wt.Filesystem.Root()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := wt.Add(name); err != nil {
			t.Fatal(err)
		}
	}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: &object.Signature{Name: "t", Email: "t@example.com", When: time.Unix(1_700_000_000, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func newRepo(t *testing.T) (string, *git.Repository) {
	t.Helper()
	dir := t.TempDir()
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	return dir, repo
}

func TestLocalRepository(t *testing.T) {
	dir, repo := newRepo(t)
	first := commitFiles(t, repo, "first", map[string]string{
		"det/rules/a.yaml":     "id: a\n",
		"det/lists/l.txt":      "x\n",
		"other/secret.txt":     "not checked out\n",
		"det/rules/sub/b.yaml": "id: b\n",
	})
	for _, url := range []string{dir, "file://" + dir} {
		r, err := Open(context.Background(), Config{URL: url, Path: "det/rules", Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		h, err := r.Resolve(context.Background(), "")
		if err != nil || h != first {
			t.Fatalf("%s: resolve HEAD: %v %v", url, h, err)
		}
		co, err := r.Checkout(h)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"det/rules/a.yaml", "det/rules/sub/b.yaml", "det/lists/l.txt"} {
			if _, err := os.Stat(filepath.Join(co.Root, filepath.FromSlash(f))); err != nil {
				t.Errorf("%s: %v", f, err)
			}
		}
		if _, err := os.Stat(filepath.Join(co.Root, "other")); err == nil {
			t.Error("a directory outside the rules' parent was checked out")
		}
		if co.Rules != filepath.Join(co.Root, "det", "rules") || co.Short() != first.String()[:12] {
			t.Errorf("checkout %+v", co)
		}
	}
	second := commitFiles(t, repo, "second", map[string]string{"det/rules/a.yaml": "id: a\ntitle: changed\n"})
	r, err := Open(context.Background(), Config{URL: dir, Path: "det/rules", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := r.Resolve(context.Background(), ""); h != second {
		t.Errorf("HEAD is %v, want the second commit", h)
	}
	if h, _ := r.Resolve(context.Background(), "HEAD~1"); h != first {
		t.Errorf("HEAD~1 is %v, want the first commit", h)
	}
	c1, _ := r.Checkout(first)
	c2, _ := r.Checkout(second)
	b, _ := os.ReadFile(filepath.Join(c2.Rules, "a.yaml"))
	if !strings.Contains(string(b), "changed") {
		t.Errorf("second checkout has %q", b)
	}
	r.Prune(c2)
	if _, err := os.Stat(c1.Root); err == nil {
		t.Error("prune kept an old checkout")
	}
	if _, err := os.Stat(c2.Root); err != nil {
		t.Error("prune removed the checkout it was told to keep")
	}
	if _, err := r.Resolve(context.Background(), "nope"); err == nil {
		t.Error("an unknown ref resolved")
	}
	if _, err := Open(context.Background(), Config{URL: dir, Path: "missing", Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	} else if r2, _ := Open(context.Background(), Config{URL: dir, Path: "missing", Dir: t.TempDir()}); r2 != nil {
		if _, err := r2.Checkout(second); err == nil || !strings.Contains(err.Error(), "has no missing") {
			t.Errorf("a missing rules path: %v", err)
		}
	}
}

// TestRemoteRepository clones and fetches through go-git's in-process
// server, as it would from an https or ssh remote.
func TestRemoteRepository(t *testing.T) {
	_, repo := newRepo(t)
	first := commitFiles(t, repo, "first", map[string]string{"rules/a.yaml": "id: a\n"})
	client.InstallProtocol("cep-test", server.NewServer(server.MapLoader{"cep-test://host/rules.git": repo.Storer}))
	r, err := Open(context.Background(), Config{URL: "cep-test://host/rules.git", Ref: "master", Path: "rules", Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if h, err := r.Resolve(context.Background(), ""); err != nil || h != first {
		t.Fatalf("resolve: %v %v", h, err)
	}
	second := commitFiles(t, repo, "second", map[string]string{"rules/b.yaml": "id: b\n"})
	h, err := r.Resolve(context.Background(), "")
	if err != nil || h != second {
		t.Fatalf("after a new commit the remote resolves to %v (%v), want %v", h, err, second)
	}
	co, err := r.Checkout(h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(co.Rules, "b.yaml")); err != nil {
		t.Error(err)
	}
}

func TestOpenAt(t *testing.T) {
	dir, repo := newRepo(t)
	commitFiles(t, repo, "first", map[string]string{"ex/rules/a.yaml": "id: a\n"})
	r, rel, err := OpenAt(filepath.Join(dir, "ex", "rules"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if rel != "ex/rules" || r.Path() != "ex/rules" {
		t.Errorf("path inside the repository %q", rel)
	}
	if _, _, err := OpenAt(t.TempDir(), t.TempDir()); err == nil {
		t.Error("a directory outside any repository opened")
	}
}

func TestAuth(t *testing.T) {
	t.Setenv("CEP_TEST_TOKEN", "s3cret")
	m, err := Auth{TokenEnv: "CEP_TEST_TOKEN"}.method()
	if err != nil || m == nil || !strings.Contains(m.Name(), "http") {
		t.Errorf("token from env: %v %v", m, err)
	}
	if m != nil && strings.Contains(m.String(), "s3cret") {
		t.Error("the token shows in the auth's description")
	}
	if _, err := (Auth{TokenEnv: "CEP_TEST_UNSET_TOKEN"}).method(); err == nil {
		t.Error("an empty token variable was accepted")
	}
	if _, err := (Auth{TokenEnv: "A", SSHKeyFile: "k"}).method(); err == nil {
		t.Error("two kinds of auth were accepted")
	}
	f := filepath.Join(t.TempDir(), "tok")
	_ = os.WriteFile(f, []byte("tok\n"), 0o600)
	if m, err := (Auth{TokenFile: f}).method(); err != nil || m == nil {
		t.Errorf("token file: %v", err)
	}
}
