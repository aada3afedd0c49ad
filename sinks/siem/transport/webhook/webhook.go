// Package webhook is the webhook sink transport: one HTTP POST per alert
// for SOAR platforms, signed per Standard Webhooks, with presets for
// TheHive and PagerDuty.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/template"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/internal/jsonx"
	"github.com/cep-project/cep/internal/secret"
	"github.com/cep-project/cep/sinks/siem/format"
	"github.com/cep-project/cep/sinks/siem/transport"
)

// Kind is the sink type and the key of its block.
const Kind = "webhook"

func init() {
	k := transport.Typed(Kind, newWebhook)
	// The webhook renders its body from the alert at send time, so the
	// spool holds the masked alert JSON and never a secret that a template
	// might embed.
	k.Body = transport.AlertJSON
	k.DefaultBatch = 1
	transport.Register(k)
}

// The webhook presets.
const (
	PresetTheHive   = "thehive"
	PresetPagerDuty = "pagerduty"
)

// Config is the webhook block: one HTTP POST per alert, for SOAR
// platforms (TheHive, Tines, Shuffle, PagerDuty, custom receivers).
type Config struct {
	// URL receives the POSTs. For preset thehive it is TheHive's base URL
	// (/api/v1/alert is added); for pagerduty it defaults to the Events v2
	// enqueue endpoint.
	URL string `yaml:"url"`
	// Preset is thehive (TheHive 5 alert, sourceRef = alert id) or
	// pagerduty (Events v2 trigger, dedup_key = alert id); it supplies the
	// template.
	Preset string `yaml:"preset"`
	// Template is a Go text/template that renders the JSON body from
	// {{.Alert}} (the masked alert) and {{.RoutingKey}}; functions json,
	// millis, rfc3339, join, thehiveSeverity and pagerdutySeverity are
	// available. Default: the alert in the sink's JSON form.
	Template string `yaml:"template"`
	// Secret signs each request per Standard Webhooks: headers webhook-id
	// (the alert id, the same on every retry), webhook-timestamp and
	// webhook-signature ("v1,<base64 HMAC-SHA256>"). It is "whsec_"
	// followed by the base64 key. Every secret may be "${env:NAME}" or
	// read from the file its _file key names.
	Secret     secret.Secret `yaml:"secret"`
	SecretFile string        `yaml:"secret_file"`
	// BearerToken is sent as "Authorization: Bearer <token>" (TheHive's
	// API key).
	BearerToken     secret.Secret `yaml:"bearer_token"`
	BearerTokenFile string        `yaml:"bearer_token_file"`
	// RoutingKey is PagerDuty's integration key, given to the template.
	RoutingKey     secret.Secret `yaml:"routing_key"`
	RoutingKeyFile string        `yaml:"routing_key_file"`
	// Headers are added to every request.
	Headers map[string]string `yaml:"headers"`
	// HTTPConfig holds tls and follow_redirects.
	transport.HTTPConfig `yaml:",inline"`
}

// pagerDutyURL is the Events API v2 endpoint.
const pagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

// Validate implements transport.Config.
func (c *Config) Validate(transport.Settings) []error {
	var errs []error
	switch c.Preset {
	case "", PresetTheHive:
		errs = append(errs, transport.ValidateURL("url", c.URL, true)...)
	case PresetPagerDuty:
		errs = append(errs, transport.ValidateURL("url", c.URL, false)...)
		if c.RoutingKey == "" && c.RoutingKeyFile == "" {
			errs = append(errs, fmt.Errorf("routing_key: required for preset pagerduty (or routing_key_file)"))
		}
	default:
		errs = append(errs, fmt.Errorf("preset: %q is not thehive or pagerduty", c.Preset))
	}
	if c.Preset != "" && c.Template != "" {
		errs = append(errs, fmt.Errorf("template: a preset brings its own template"))
	}
	if c.Template != "" {
		if _, err := template.New("body").Funcs(templateFuncs).Parse(c.Template); err != nil {
			errs = append(errs, fmt.Errorf("template: %v", err))
		}
	}
	if c.Secret != "" && !strings.HasPrefix(string(c.Secret), "${") {
		if _, err := webhookKey(c.Secret); err != nil {
			errs = append(errs, fmt.Errorf("secret: %v", err))
		}
	}
	return append(errs, c.HTTPConfig.Validate()...)
}

// webhookKey decodes a Standard Webhooks secret.
func webhookKey(s secret.Secret) ([]byte, error) {
	v, ok := strings.CutPrefix(s.Reveal(), "whsec_")
	if !ok {
		return nil, fmt.Errorf("must start with whsec_")
	}
	k, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("not base64 after whsec_")
	}
	if len(k) < 16 {
		return nil, fmt.Errorf("key of %d bytes is too short (at least 16)", len(k))
	}
	return k, nil
}

// signWebhook returns the webhook-signature value for a message.
func signWebhook(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		if a, ok := v.(*alert.Alert); ok {
			b, err := format.AppendJSON(nil, a)
			return string(b), err
		}
		b, err := jsonx.AppendAny(nil, v)
		return string(b), err
	},
	"millis": func(a *alert.Alert) int64 { return a.Time.UnixMilli() },
	"rfc3339": func(a *alert.Alert) string {
		return a.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	},
	"join": strings.Join,
	// TheHive 5 severities: 1 low, 2 medium, 3 high, 4 critical.
	"thehiveSeverity": func(s alert.Severity) int {
		return max(1, s.Rank())
	},
	// PagerDuty's severities are critical, error, warning and info.
	"pagerdutySeverity": func(s alert.Severity) string {
		switch s {
		case alert.Critical:
			return "critical"
		case alert.High:
			return "error"
		case alert.Medium:
			return "warning"
		}
		return "info"
	},
}

const theHiveTemplate = `{"type":"cep","source":"cep","sourceRef":{{json .Alert.ID}},` +
	`"title":{{json .Alert.Title}},` +
	`"description":{{json (printf "Rule %s (version %s) alerted at %s.\n\nKey: %s\n\nPriority: %d" .Alert.Rule .Alert.RuleVersion (rfc3339 .Alert) .Alert.Key.String .Alert.Priority)}},` +
	`"severity":{{thehiveSeverity .Alert.Severity}},"date":{{millis .Alert}},` +
	`"tags":{{if .Alert.Tags}}{{json .Alert.Tags}}{{else}}[]{{end}},"tlp":2,"pap":2,` +
	`"externalLink":"","summary":{{json .Alert.Title}}}`

const pagerDutyTemplate = `{"routing_key":{{json .RoutingKey}},"event_action":"trigger","dedup_key":{{json .Alert.ID}},` +
	`"payload":{"summary":{{json .Alert.Title}},"source":"cep","severity":{{json (pagerdutySeverity .Alert.Severity)}},` +
	`"timestamp":{{json (rfc3339 .Alert)}},"component":{{json .Alert.Rule}},"class":{{json (string .Alert.Severity)}},` +
	`"custom_details":{"alert":{{json .Alert}}}}}`

type webhookTransport struct {
	cfg    Config
	client *http.Client
	url    string
	tmpl   *template.Template
	key    []byte
	clock  transport.Clock
}

type webhookData struct {
	Alert      *alert.Alert
	RoutingKey string
}

func newWebhook(c Config, env transport.Env) (*webhookTransport, error) {
	client, err := transport.HTTPClient(c.HTTPConfig)
	if err != nil {
		return nil, err
	}
	w := &webhookTransport{cfg: c, client: client, url: c.URL, clock: env.Clock}
	text := c.Template
	switch c.Preset {
	case PresetTheHive:
		u, _ := url.Parse(c.URL)
		u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/alert"
		w.url = u.String()
		text = theHiveTemplate
	case PresetPagerDuty:
		if w.url == "" {
			w.url = pagerDutyURL
		}
		text = pagerDutyTemplate
	}
	if text != "" {
		funcs := template.FuncMap{"string": func(s alert.Severity) string { return string(s) }}
		w.tmpl, err = template.New("body").Funcs(templateFuncs).Funcs(funcs).Parse(text)
		if err != nil {
			return nil, err
		}
	}
	if c.Secret != "" {
		if w.key, err = webhookKey(c.Secret); err != nil {
			return nil, err
		}
	}
	return w, nil
}

func (w *webhookTransport) render(r *transport.Record) ([]byte, error) {
	if w.tmpl == nil {
		return r.Body, nil
	}
	var a alert.Alert
	if err := json.Unmarshal(r.Body, &a); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := w.tmpl.Execute(&b, webhookData{Alert: &a, RoutingKey: w.cfg.RoutingKey.Reveal()}); err != nil {
		return nil, err
	}
	if !json.Valid(b.Bytes()) {
		return nil, fmt.Errorf("template rendered invalid JSON")
	}
	return b.Bytes(), nil
}

// Start implements transport.Transport.
func (w *webhookTransport) Start(context.Context) error { return nil }

// Send posts the batch's alerts one by one, stopping at the first
// retryable failure so that order is kept.
func (w *webhookTransport) Send(ctx context.Context, batch []transport.Record) error {
	var fails []transport.ItemFailure
	for i := range batch {
		err := w.post(ctx, &batch[i])
		if err == nil {
			continue
		}
		if transport.IsPermanent(err) {
			fails = append(fails, transport.ItemFailure{Index: i, Reason: err.Error()})
			continue
		}
		if len(fails) == 0 && i == 0 {
			return err
		}
		for j := i; j < len(batch); j++ {
			fails = append(fails, transport.ItemFailure{Index: j, Retry: true, Reason: err.Error()})
		}
		break
	}
	if len(fails) > 0 {
		return &transport.ItemsError{Items: fails}
	}
	return nil
}

func (w *webhookTransport) post(ctx context.Context, r *transport.Record) error {
	body, err := w.render(r)
	if err != nil {
		return transport.Permanentf("webhook body: %v", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return transport.Permanent(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range w.cfg.Headers {
		req.Header.Set(k, v)
	}
	if w.cfg.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+w.cfg.BearerToken.Reveal())
	}
	if w.key != nil {
		ts := w.clock.Now().Unix()
		req.Header.Set("webhook-id", r.ID)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("webhook-signature", signWebhook(w.key, r.ID, ts, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		return nil
	}
	return transport.StatusError(resp.StatusCode, rb)
}

// Close implements transport.Transport.
func (w *webhookTransport) Close() error {
	w.client.CloseIdleConnections()
	return nil
}
