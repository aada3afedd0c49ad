package secret

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
)

type tls struct {
	CAFile string `yaml:"ca_file"`
}

type sasl struct {
	User         string `yaml:"username"`
	Password     Secret `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
}

type block struct {
	URL       string  `yaml:"url"`
	Token     Secret  `yaml:"token"`
	TokenFile string  `yaml:"token_file"`
	SASL      *sasl   `yaml:"sasl"`
	Old       []sasl  `yaml:"old"`
	TLS       tls     `yaml:"tls"`
	Inline    inline  `yaml:",inline"`
	Skipped   Secret  `yaml:"-"`
	NoFile    *Secret `yaml:"nofile"`
}

type inline struct {
	Key     Secret `yaml:"key"`
	KeyFile string `yaml:"key_file"`
	Lone    Secret `yaml:"lone"`
}

var fake = Resolver{
	LookupEnv: func(n string) (string, bool) {
		v, ok := map[string]string{"TOK": "tok-from-env", "EMPTY": ""}[n]
		return v, ok
	},
	ReadFile: func(p string) ([]byte, error) {
		if p == "/run/secrets/pw" {
			return []byte("pw-from-file\n"), nil
		}
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	},
}

func TestFieldsFindsEverySecretWithItsPath(t *testing.T) {
	b := &block{SASL: &sasl{}, Old: []sasl{{}, {}}}
	var got []string
	for _, f := range Fields(b, "sink") {
		got = append(got, f.Path)
		if err := f.Validate(); err != nil {
			got = append(got, "error: "+err.Error())
		}
	}
	want := "sink.token sink.sasl.password sink.old[0].password sink.old[1].password sink.key sink.lone error: sink.lone: secret has no sink.lone_file form (the config type must declare it)"
	if strings.Join(got, " ") != want {
		t.Fatalf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		b    block
		errs string
	}{
		{block{Token: "${env:TOK}"}, ""},
		{block{TokenFile: "/f"}, ""},
		{block{Token: "x", TokenFile: "/f"}, "sink.token: set either token or token_file, not both"},
		{block{Token: "${env:1BAD}"}, `sink.token: "${env:1BAD}" is not ${env:NAME}`},
		{block{Token: "${ENV:X}"}, `sink.token: "${ENV:X}" is not ${env:NAME}`},
	}
	for _, tc := range tests {
		var errs []string
		for _, f := range Fields(&tc.b, "sink") {
			if err := f.Validate(); err != nil && f.Path != "sink.lone" {
				errs = append(errs, err.Error())
			}
		}
		if strings.Join(errs, "; ") != tc.errs {
			t.Errorf("%+v: %q, want %q", tc.b, errs, tc.errs)
		}
	}
}

func TestPlaintext(t *testing.T) {
	for s, want := range map[Secret]bool{"": false, "${env:TOK}": false, "hunter2": true, "${env:bad name}": true} {
		if got := (Field{Value: s}).Plaintext(); got != want {
			t.Errorf("%q: %v", s, got)
		}
	}
}

func TestResolve(t *testing.T) {
	orig := &block{Token: "${env:TOK}", SASL: &sasl{PasswordFile: "/run/secrets/pw"}, Old: []sasl{{Password: "plain"}}, Inline: inline{Key: "k"}}
	c := Copy(orig)
	if err := fake.Resolve(c, "sink"); err == nil || !strings.Contains(err.Error(), "sink.lone") {
		t.Fatalf("the secret without a file form is not reported: %v", err)
	}
	if c.Token.Reveal() != "tok-from-env" || c.SASL.Password.Reveal() != "pw-from-file" || c.SASL.PasswordFile != "" || c.Old[0].Password != "plain" || c.Inline.Key != "k" {
		t.Fatalf("resolved %+v %+v", c, c.SASL)
	}
	if orig.Token != "${env:TOK}" || orig.SASL.PasswordFile != "/run/secrets/pw" || orig.SASL.Password != "" {
		t.Fatal("resolving the copy changed the original")
	}
	for _, tc := range []struct {
		b    *block
		want string
	}{
		{&block{Token: "${env:NOPE}"}, "sink.token: environment variable NOPE is not set"},
		{&block{Token: "${env:EMPTY}"}, "sink.token: environment variable EMPTY is not set"},
		{&block{TokenFile: "/nope"}, "sink.token_file: open /nope: file does not exist"},
	} {
		err := fake.Resolve(tc.b, "sink")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.b, err, tc.want)
		}
	}
}

func TestResolveFiles(t *testing.T) {
	b := &block{TokenFile: "tok", SASL: &sasl{PasswordFile: "pw"}}
	ResolveFiles(b, func(p string) string { return "/etc/cep/" + p })
	if b.TokenFile != "/etc/cep/tok" || b.SASL.PasswordFile != "/etc/cep/pw" || b.Inline.KeyFile != "" {
		t.Fatalf("%+v %+v", b, b.SASL)
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://hooks.example.com/x?api_key=SECRET&team=a", "https://hooks.example.com/x?api_key=redacted&team=redacted"},
		{"https://user:SECRET@es:9200/_bulk", "https://redacted@es:9200/_bulk"},
		{"https://TOKEN@host/p#SECRET", "https://redacted@host/p#redacted"},
		{`Post "https://u:SECRET@h/hook?k=SECRET": dial tcp 127.0.0.1:1: connect: connection refused`,
			`Post "https://redacted@h/hook?k=redacted": dial tcp 127.0.0.1:1: connect: connection refused`},
		{`parse "https://u:SECRET@h/%zz?k=SECRET": invalid URL escape "%zz"`, `parse "https://redacted@h/%zz?redacted": invalid URL escape "%zz"`},
		{"no url here: a=b", "no url here: a=b"},
		{"splunk:8088", "splunk:8088"},
	}
	for _, tc := range tests {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("%s\n got %s\nwant %s", tc.in, got, tc.want)
		}
		if strings.Contains(Redact(tc.in), "SECRET") {
			t.Errorf("%s: leaked", tc.in)
		}
	}
	if got := RedactURL("mailto:a@b?subject=SECRET"); got != "mailto:a@b?subject=redacted" {
		t.Errorf("opaque: %s", got)
	}
	if RedactError(fmt.Errorf("x: %w", errors.New("https://a:SECRET@b"))) != "x: https://redacted@b" || RedactError(nil) != "" {
		t.Error("RedactError")
	}
}
