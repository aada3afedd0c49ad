package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cep-project/cep/internal/yamlx"
)

// FuzzCompileFile holds the whole load of a rule file — YAML, the format,
// CEL parsing, checking and cost estimation — to never panic, never hang
// and to place every error in the file. Seeds: every rule of testdata and
// of the example, the alias bomb, and deeply nested CEL.
func FuzzCompileFile(f *testing.F) {
	for _, dir := range []string{"testdata/bad", "testdata/good", "../examples/fraud/rules"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	head := "id: t.nest\ntitle: nested\nmatch: "
	f.Add([]byte(head + strings.Repeat("(", 300) + "true" + strings.Repeat(")", 300) + "\n"))
	f.Add([]byte(head + strings.Repeat("!", 1000) + "true\n"))
	f.Add([]byte(head + "[" + strings.Repeat("[", 200) + strings.Repeat("]", 200) + "] == []\n"))
	f.Add([]byte(head + strings.Repeat("event.a.", 500) + "b == 1\n"))
	f.Add([]byte("id: t\ntitle: t\nmatch: |\n  event.x == 1 &&\n  event.y.exists(a, event.z.all(b, a == b))\n"))
	c := newTestCompiler(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		r, errs := c.CompileFile("f.yaml", src)
		checkLoaded(t, "f.yaml", r != nil, errs)
	})
}

// FuzzCompileOnlineModel holds the load of an online model file (YAML,
// the format, the feedback's CEL, the learner's settings) to never
// panic and to place every error in the file. Settings are checked
// without making the weight table they ask for.
func FuzzCompileOnlineModel(f *testing.F) {
	files, _ := filepath.Glob("../examples/fraud/models/*.online.yaml")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	head := "kind: logistic\nfeedback: {stream: s, alert_id: event.id, label: event.bad}\n"
	f.Add([]byte(head + "hash_bits: 26\n"))
	f.Add([]byte(head + "hash_bits: 27\nalpha: .nan\nl1: -.inf\n"))
	f.Add([]byte(head + "fallback: nothing\nremember: 0\n"))
	c := newTestCompiler(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		m, errs := c.compileOnline("m.online.yaml", "m", src)
		checkLoaded(t, "m.online.yaml", m != nil, errs)
	})
}

// checkLoaded holds a load of file to its contract: something loaded or
// an error, every error placed in the file, and nothing loaded beside an
// error that is not a warning.
func checkLoaded(t *testing.T, file string, loaded bool, errs []error) {
	t.Helper()
	if !loaded && len(errs) == 0 {
		t.Fatal("nothing loaded and no error")
	}
	for _, e := range errs {
		if !strings.HasPrefix(e.Error(), file) {
			t.Fatalf("error without its file: %v", e)
		}
		if loaded && !yamlx.IsWarning(e) {
			t.Fatalf("loaded with an error: %v", e)
		}
	}
}
