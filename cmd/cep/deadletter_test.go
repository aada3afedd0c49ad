package main

import (
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cep-project/cep/internal/seal"
	"github.com/cep-project/cep/sinks/siem"
)

// TestDeadLetterCommand: cep dead-letter prints a sink's dead letters with
// sealed records opened by the config's key, refuses them without it, and
// says why a sink keeps none.
func TestDeadLetterCommand(t *testing.T) {
	dir := t.TempDir()
	material := strings.Repeat("ab", 32)
	raw, _ := hex.DecodeString(material)
	key, err := seal.NewKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	// A line as the sink writes it: the record sealed, bound to the sink
	// and the alert id.
	env := seal.NewKeyring(key).Seal(nil, []byte(`{"card":"4111"}`), []byte("cep dead letter\x00es\x00a1"))
	line := `{"time":"2026-03-02T08:00:00Z","sink":"es","id":"a1","reason":"mapper_parsing_exception","record_sealed":"` + base64.StdEncoding.EncodeToString(env) + `"}` + "\n"
	if err := os.MkdirAll(filepath.Join(dir, "spool"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "spool", siem.DeadLetterFile), []byte(line), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(name, enc string) string {
		p := filepath.Join(dir, name)
		cfg := "rules: [rules]\nsources: [{type: file, path: in.jsonl, stream: s}]\nsinks:\n  - {name: es, type: file, file: {path: out.jsonl}, spool: {dir: spool" + enc + "}}\n  - {name: plain, type: stdout}\n"
		if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("CEP_TEST_SPOOL_KEY", material)
	withKey := write("with.yaml", `, encryption: {key: "${env:CEP_TEST_SPOOL_KEY}"}`)
	code, out, errs := runApp(t, "dead-letter", "--config", withKey, "--sink", "es")
	if code != 0 || !strings.Contains(out, `"record":"{\"card\":\"4111\"}"`) || strings.Contains(out, "record_sealed") {
		t.Errorf("with the key: %d %s %s", code, out, errs)
	}
	code, _, errs = runApp(t, "dead-letter", "--config", write("without.yaml", ""), "--sink", "es")
	if code != exitRuntime || !strings.Contains(errs, key.ID()) {
		t.Errorf("without the key: %d %s, want exit 3 naming key %s", code, errs, key.ID())
	}
	if code, _, errs = runApp(t, "dead-letter", "--config", withKey, "--sink", "plain"); code != exitUsage || !strings.Contains(errs, "no spool.dir") {
		t.Errorf("a sink without a spool: %d %s", code, errs)
	}
	if code, _, errs = runApp(t, "dead-letter", "--config", withKey, "--sink", "nope"); code != exitUsage || !strings.Contains(errs, "[es plain]") {
		t.Errorf("an unknown sink: %d %s", code, errs)
	}
}
