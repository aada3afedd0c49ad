package siem

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/cep-project/cep/internal/yamlx"
	"github.com/cep-project/cep/sinks/siem/format"
	"github.com/cep-project/cep/sinks/siem/transport/hec"
)

func decodeConfigs(tb testing.TB, text string) []Config {
	tb.Helper()
	var cfgs []Config
	d := yaml.NewDecoder(strings.NewReader(text))
	d.KnownFields(true)
	if err := d.Decode(&cfgs); err != nil {
		tb.Fatal(err)
	}
	return cfgs
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		errs []string // substrings, one per expected error
	}{
		{"a valid config of every type", `
- {name: hec, type: splunk_hec, splunk_hec: {url: "https://splunk:8088", token: t, ack: true}}
- {name: es, type: elastic, format: ecs, elastic: {url: "http://es:9200", data_stream: logs-cep-default, api_key: k}}
- {name: sys, type: syslog, format: leef, leef_delimiter: x09, syslog: {network: tls, address: "siem:6514"}}
- {name: hive, type: webhook, webhook: {url: "https://hive:9000", preset: thehive, bearer_token: k}}
- {name: pd, type: webhook, webhook: {preset: pagerduty, routing_key: r}}
- {name: k, type: kafka, kafka: {brokers: ["k:9092"], topic: alerts, compression: zstd}}
- {name: f, type: file, include_shadow: true, file: {path: /tmp/a.jsonl}, spool: {dir: /tmp/s, on_full: drop_oldest}}
- {name: out, type: stdout, min_priority: 50, severities: [high], tags: ["attack.*"], mask: [{field: card, keep: 4}, {field: email, action: hash}], hash_key: s3cret}
`, nil},
		{"every problem at once, with its path", `
- {type: nope, format: xml, min_priority: 101, severities: [urgent], include_shadow: true}
- {name: hec, type: splunk_hec, splunk_hec: {url: "ftp://x"}, elastic: {url: "http://x"}, retry: {multiplier: 0.5}, spool: {on_full: later, max_bytes: 10}}
- {name: es, type: elastic, format: cef, elastic: {url: "http://es:9200", data_stream: d}}
- {name: sys, type: syslog, leef_delimiter: "||", syslog: {network: sctp, address: nohost, facility: 30}}
- {name: wh, type: webhook, mask: [{field: card, action: hash}, {action: smash}], webhook: {url: "https://x", secret: "nope", template: "{{.Alert"}}
- {name: sys, type: kafka, kafka: {compression: brotli}, spool: {dir: /tmp/s}}
- {name: f, type: file, spool: {dir: /tmp/s}}
- {name: t, type: syslog, format: text, syslog: {network: tcp, address: "siem:514"}}
`, []string{
			"sinks[0].name: required", `sinks[0].type: "nope"`, `sinks[0].format: "xml"`, "sinks[0].min_priority", "sinks[0].severities[0]", "sinks[0].include_shadow",
			"sinks[1].splunk_hec.url", "sinks[1].splunk_hec.token: required", "sinks[1].elastic: set", "sinks[1].retry.multiplier", "sinks[1].spool.max_bytes", "sinks[1].spool.on_full",
			"sinks[2].format: elastic indexes JSON", "sinks[2].elastic.data_stream",
			"sinks[3].leef_delimiter", "sinks[3].syslog.network", "sinks[3].syslog.address", "sinks[3].syslog.facility",
			"sinks[4].mask[0].action: hash needs hash_key", "sinks[4].mask[1].field: required", "sinks[4].mask[1].action", "sinks[4].webhook.template", "sinks[4].webhook.secret",
			"sinks[5].kafka.brokers", "sinks[5].kafka.topic", "sinks[5].kafka.compression", `sinks[5].name: "sys" is also`,
			"sinks[6].file: required", `sinks[6].spool.dir: "/tmp/s" is also`,
			"sinks[7].format: text is for people",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := ValidateAll(decodeConfigs(t, tc.yaml))
			var got []string
			for _, e := range errs {
				got = append(got, e.Error())
			}
			all := strings.Join(got, "\n")
			for _, want := range tc.errs {
				if !strings.Contains(all, want) {
					t.Errorf("missing error %q in:\n%s", want, all)
				}
			}
			if len(errs) != len(tc.errs) {
				t.Errorf("%d errors, want %d:\n%s", len(errs), len(tc.errs), all)
			}
		})
	}
}

func TestUnknownKeysAreErrors(t *testing.T) {
	var cfgs []Config
	d := yaml.NewDecoder(strings.NewReader("- {name: a, type: stdout, min_prio: 3}"))
	d.KnownFields(true)
	if err := d.Decode(&cfgs); err == nil || !strings.Contains(err.Error(), "min_prio") {
		t.Fatalf("err %v", err)
	}
}

// Secrets never show: not in fmt, not in slog, not in a YAML dump.
func TestSecretsAreRedacted(t *testing.T) {
	cfgs := decodeConfigs(t, `
- name: hec
  type: splunk_hec
  hash_key: hk-SECRET
  splunk_hec: {url: "https://s:8088", token: tok-SECRET}
`)
	c := cfgs[0]
	block := c.Transport.(*hec.Config)
	if block.Token.Reveal() != "tok-SECRET" {
		t.Fatal("token not decoded")
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "cfg", c, "token", block.Token)
	dump, err := yaml.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprint(c.Transport), logs.String(), string(dump)} {
		if strings.Contains(out, "SECRET") {
			t.Errorf("secret leaked: %s", out)
		}
	}
}

// Every example in CONFIG.md decodes strictly and validates.
func TestConfigDocExamples(t *testing.T) {
	doc, err := os.ReadFile("CONFIG.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllSubmatch(doc, -1)
	if len(blocks) < 9 {
		t.Fatalf("found %d yaml blocks", len(blocks))
	}
	var all []Config
	for _, b := range blocks {
		text := strings.TrimPrefix(string(b[1]), "sinks:\n")
		cfgs := decodeConfigs(t, text)
		all = append(all, cfgs...)
	}
	for _, err := range ValidateAll(all) {
		t.Error(err)
	}
	types := map[string]bool{}
	formats := map[string]bool{}
	for _, c := range all {
		types[c.Type] = true
		if c.Format != "" {
			formats[c.Format] = true
		}
	}
	// Every kind that transport/all registers, every built-in format.
	if len(types) != 7 || len(formats) != len(format.Names()) {
		t.Errorf("examples cover types %v and formats %v", types, formats)
	}
}

// cep's config decoder (internal/yamlx) decodes sinks too: unknown keys,
// in a sink or in its block, are errors with their position and the keys
// allowed, the registered kinds' blocks among them.
func TestYAMLXDecoding(t *testing.T) {
	src := []byte(`
- name: hec
  type: splunk_hec
  min_prio: 3
  splunk_hec: {url: "https://s:8088", token: t, tokn: x}
`)
	doc, err := yamlx.Parse("cep.yaml", src, "")
	if err != nil {
		t.Fatal(err)
	}
	d := yamlx.NewDecoder("cep.yaml", src)
	d.Root = "sinks"
	var cfgs []Config
	d.Decode(doc, &cfgs)
	all := errors.Join(d.List...).Error()
	for _, want := range []string{`cep.yaml:4:3: unknown key "min_prio"`, "retry, breaker, spool, ", ", splunk_hec, ", `cep.yaml:5:49: unknown key "tokn"`} {
		if !strings.Contains(all, want) {
			t.Errorf("missing %q in\n%s", want, all)
		}
	}
	if len(cfgs) != 1 || cfgs[0].Transport.(*hec.Config).URL != "https://s:8088" {
		t.Fatalf("decoded %+v", cfgs)
	}
}
