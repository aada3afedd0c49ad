package siem

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/cep-project/cep/internal/secret"
	"github.com/cep-project/cep/sinks/siem/sinktest"
	"github.com/cep-project/cep/sinks/siem/transport"
)

// fakeSecrets is an environment and a file system holding a few secrets.
var fakeSecrets = secret.Resolver{
	LookupEnv: func(n string) (string, bool) {
		v, ok := map[string]string{"HEC_TOKEN": "tok-from-env", "MASK_KEY": "mask-from-env"}[n]
		return v, ok
	},
	ReadFile: func(p string) ([]byte, error) {
		if p == "/run/secrets/hec" {
			return []byte("tok-from-file\n"), nil
		}
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	},
}

// Every secret, of every registered kind and of the sink itself, can be
// kept out of the config: it has a _file form (and takes ${env:NAME}).
func TestEverySecretHasAFileForm(t *testing.T) {
	if missing := secret.MissingFileForms(&Config{}); len(missing) > 0 {
		t.Errorf("sink secrets without a _file key: %v", missing)
	}
	for _, k := range transport.Kinds() {
		if k.NewConfig == nil {
			continue
		}
		if missing := secret.MissingFileForms(k.NewConfig()); len(missing) > 0 {
			t.Errorf("%s: secrets without a _file key: %v", k.Name, missing)
		}
	}
}

func TestSecretsResolveAtBuild(t *testing.T) {
	tests := []struct {
		name  string
		block sinktest.MemoryConfig
		hash  secret.Secret
		want  string // token the transport got, or the Build error
	}{
		{"env", sinktest.MemoryConfig{Token: "${env:HEC_TOKEN}"}, "", "tok-from-env"},
		{"file", sinktest.MemoryConfig{TokenFile: "/run/secrets/hec"}, "", "tok-from-file"},
		{"plaintext", sinktest.MemoryConfig{Token: "plain"}, "", "plain"},
		{"unset variable", sinktest.MemoryConfig{Token: "${env:NOPE}"}, "", `sink "m": memory.token: environment variable NOPE is not set`},
		{"missing file", sinktest.MemoryConfig{TokenFile: "/nope"}, "", `sink "m": memory.token_file: open /nope: file does not exist`},
		{"mask key", sinktest.MemoryConfig{Token: "t"}, "${env:NOPE}", `sink "m": hash_key: environment variable NOPE is not set`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dest := &sinktest.Memory{}
			block := tc.block
			block.Dest = dest
			c := memConfig("m", dest)
			c.Transport = &block
			c.HashKey = tc.hash
			opts := quietOptions()
			opts.Secrets = fakeSecrets
			_, err := Build([]Config{c}, opts)
			if err != nil {
				if err.Error() != tc.want {
					t.Fatalf("error %q, want %q", err, tc.want)
				}
				return
			}
			if dest.Token() != tc.want {
				t.Fatalf("token %q, want %q", dest.Token(), tc.want)
			}
			if block.Token != tc.block.Token || block.TokenFile != tc.block.TokenFile {
				t.Fatalf("the caller's config was changed: %+v", block)
			}
		})
	}
}

func TestSecretValidation(t *testing.T) {
	errs := ValidateAll(decodeConfigs(t, `
- {name: a, type: splunk_hec, splunk_hec: {url: "https://s:8088", token: t, token_file: /f}}
- {name: b, type: webhook, webhook: {url: "https://w", secret: "${env:bad-name}"}}
- {name: c, type: kafka, kafka: {brokers: [k:9092], topic: t, sasl: {mechanism: scram-sha-256, username: u, password: p, password_file: /f}}}
`))
	all := errors.Join(errs...).Error()
	for _, want := range []string{
		"sinks[0].splunk_hec.token: set either token or token_file, not both",
		`sinks[1].webhook.secret: "${env:bad-name}" is not ${env:NAME}`,
		"sinks[2].kafka.sasl.password: set either password or password_file, not both",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %q in\n%s", want, all)
		}
	}
	if len(errs) != 3 {
		t.Errorf("%d errors:\n%s", len(errs), all)
	}
}

func TestWarnings(t *testing.T) {
	got := Warnings(decodeConfigs(t, `
- {name: a, type: splunk_hec, hash_key: plain-mask-key, splunk_hec: {url: "https://s:8088", token: plain-token}}
- {name: b, type: splunk_hec, hash_key: "${env:K}", splunk_hec: {url: "https://s:8088", token_file: /run/secrets/t}}
- {name: c, type: webhook, webhook: {url: "https://u:pw@w/hook?api_key=k", bearer_token: "${env:T}"}}
- {name: d, type: kafka, kafka: {brokers: [k:9092], topic: t, sasl: {mechanism: plain, username: u, password: pw}}}
`))
	want := []string{
		`sinks[0].hash_key: a plaintext secret in the config file; write "${env:NAME}" or use hash_key_file`,
		`sinks[0].splunk_hec.token: a plaintext secret in the config file; write "${env:NAME}" or use token_file`,
		"sinks[2].webhook.url: holds credentials or a query string; logs and health show it redacted, but the config file keeps it in plaintext",
		`sinks[3].kafka.sasl.password: a plaintext secret in the config file; write "${env:NAME}" or use password_file`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, w := range got {
		if strings.Contains(w, "plain-token") || strings.Contains(w, "pw@") {
			t.Errorf("a warning shows the secret: %s", w)
		}
	}
}
