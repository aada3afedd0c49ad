// Package elastic is the elastic sink transport: Elasticsearch's _bulk API
// with create actions and the alert id as document id, so that a re-sent
// alert is a 409 and not a duplicate.
package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/cep-project/cep/internal/jsonx"
	"github.com/cep-project/cep/internal/secret"
	"github.com/cep-project/cep/sinks/siem/format"
	"github.com/cep-project/cep/sinks/siem/transport"
)

// Kind is the sink type and the key of its block.
const Kind = "elastic"

func init() {
	k := transport.Typed(Kind, newElastic)
	k.FieldNames = FieldName
	transport.Register(k)
}

// FieldName makes a member name one that Elasticsearch maps: it rejects a
// document whose field names are empty or blank, or whose dotted path has
// an empty or blank part ("x.", ".x", "a..b"), with a
// mapper_parsing_exception that would send the whole alert to the
// dead-letter file. Each such part becomes "_": "" → "_", "x." → "x._",
// "a..b" → "a._.b". Other names are kept, dots included (Elasticsearch
// reads them as object paths).
func FieldName(name string) string {
	if !badName(name) {
		return name
	}
	parts := strings.Split(name, ".")
	for i, p := range parts {
		if strings.TrimSpace(p) == "" {
			parts[i] = "_"
		}
	}
	return strings.Join(parts, ".")
}

func badName(name string) bool {
	for {
		part, rest, more := strings.Cut(name, ".")
		if strings.TrimSpace(part) == "" {
			return true
		}
		if !more {
			return false
		}
		name = rest
	}
}

// Config is the elastic block.
type Config struct {
	// URL is the cluster, e.g. https://es:9200.
	URL string `yaml:"url"`
	// Index or DataStream (exactly one) receives the alerts. A data stream
	// needs @timestamp, so it takes format ecs (or a pipeline that sets it).
	Index      string `yaml:"index"`
	DataStream string `yaml:"data_stream"`
	// Pipeline is an ingest pipeline to run on each document.
	Pipeline string `yaml:"pipeline"`
	// APIKey (the base64 "id:key" form) or Username and Password
	// authenticate; each secret may be "${env:NAME}" or read from the
	// file its _file key names.
	APIKey       secret.Secret `yaml:"api_key"`
	APIKeyFile   string        `yaml:"api_key_file"`
	Username     string        `yaml:"username"`
	Password     secret.Secret `yaml:"password"`
	PasswordFile string        `yaml:"password_file"`
	// HTTPConfig holds tls and follow_redirects.
	transport.HTTPConfig `yaml:",inline"`
}

// Validate implements transport.Config. Elasticsearch indexes JSON
// documents, and a data stream needs @timestamp, which only ECS writes.
func (c *Config) Validate(s transport.Settings) []error {
	errs := transport.ValidateURL("url", c.URL, true)
	if (c.Index == "") == (c.DataStream == "") {
		errs = append(errs, fmt.Errorf("index: exactly one of index and data_stream is required"))
	}
	apiKey := c.APIKey != "" || c.APIKeyFile != ""
	password := c.Password != "" || c.PasswordFile != ""
	if apiKey && c.Username != "" {
		errs = append(errs, fmt.Errorf("api_key: set either api_key or username, not both"))
	}
	if (c.Username == "") != !password {
		errs = append(errs, fmt.Errorf("password: username and password go together"))
	}
	errs = append(errs, c.HTTPConfig.Validate()...)
	if !s.JSON {
		errs = append(errs, transport.AtSink(fmt.Errorf("format: elastic indexes JSON documents; use json, ecs or ocsf")))
	}
	if c.DataStream != "" && s.Format != format.ECS && c.Pipeline == "" {
		errs = append(errs, fmt.Errorf("data_stream: a data stream needs @timestamp; use format ecs or a pipeline that sets it"))
	}
	return errs
}

// elasticTransport writes batches with the create action and the alert id
// as the document id. A retried or re-spooled alert that already arrived
// is answered 409, which counts as delivered: the alert id makes the
// index, not the sender, the place where duplicates stop.
type elasticTransport struct {
	cfg     Config
	client  *http.Client
	bulkURL string
	action  []byte // {"create":{"_index":"..."," _id":  up to the id
	scratch []byte
}

func newElastic(c Config, _ transport.Env) (*elasticTransport, error) {
	client, err := transport.HTTPClient(c.HTTPConfig)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(c.URL)
	u.Path = strings.TrimSuffix(u.Path, "/") + "/_bulk"
	if c.Pipeline != "" {
		u.RawQuery = "pipeline=" + url.QueryEscape(c.Pipeline)
	}
	target := c.Index
	if c.DataStream != "" {
		target = c.DataStream
	}
	action := jsonx.AppendString([]byte(`{"create":{"_index":`), target)
	action = append(action, `,"_id":`...)
	return &elasticTransport{cfg: c, client: client, bulkURL: u.String(), action: action}, nil
}

type bulkResponse struct {
	Errors bool                         `json:"errors"`
	Items  []map[string]bulkItemOutcome `json:"items"`
}

type bulkItemOutcome struct {
	Status int `json:"status"`
	Error  *struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
}

// Start implements transport.Transport.
func (e *elasticTransport) Start(context.Context) error { return nil }

// Send implements transport.Transport.
func (e *elasticTransport) Send(ctx context.Context, batch []transport.Record) error {
	b := e.scratch[:0]
	for i := range batch {
		b = append(b, e.action...)
		b = jsonx.AppendString(b, batch[i].ID)
		b = append(b, "}}\n"...)
		b = append(b, batch[i].Body...)
		b = append(b, '\n')
	}
	e.scratch = b
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.bulkURL, bytes.NewReader(b))
	if err != nil {
		return transport.Permanent(err)
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	switch {
	case e.cfg.APIKey != "":
		req.Header.Set("Authorization", "ApiKey "+e.cfg.APIKey.Reveal())
	case e.cfg.Username != "":
		req.SetBasicAuth(e.cfg.Username, e.cfg.Password.Reveal())
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		rb, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return transport.StatusError(resp.StatusCode, rb)
	}
	var br bulkResponse
	if err := json.NewDecoder(resp.Body).Decode(&br); err != nil {
		return fmt.Errorf("bulk response: %w", err)
	}
	if !br.Errors {
		return nil
	}
	if len(br.Items) != len(batch) {
		return fmt.Errorf("bulk response: %d items for %d documents", len(br.Items), len(batch))
	}
	var fails []transport.ItemFailure
	for i, item := range br.Items {
		for _, o := range item {
			if o.Status < 300 || o.Status == http.StatusConflict {
				continue
			}
			reason := fmt.Sprintf("HTTP %d", o.Status)
			if o.Error != nil {
				reason += ": " + o.Error.Type + ": " + o.Error.Reason
			}
			fails = append(fails, transport.ItemFailure{Index: i, Retry: o.Status == http.StatusTooManyRequests || o.Status >= 500, Reason: reason})
		}
	}
	if len(fails) == 0 {
		return nil
	}
	return &transport.ItemsError{Items: fails}
}

// Close implements transport.Transport.
func (e *elasticTransport) Close() error {
	e.client.CloseIdleConnections()
	return nil
}
