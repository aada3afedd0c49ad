// Package hec is the splunk_hec sink transport: Splunk's HTTP Event
// Collector, batched, optionally gzipped, optionally waiting for indexer
// acknowledgement.
package hec

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cep-project/cep/internal/jsonx"
	"github.com/cep-project/cep/internal/secret"
	"github.com/cep-project/cep/sinks/siem/transport"
)

// Kind is the sink type and the key of its block.
const Kind = "splunk_hec"

func init() {
	transport.Register(transport.Typed(Kind, newHEC))
}

// Config is the splunk_hec block.
type Config struct {
	// URL is the collector, e.g. https://splunk:8088. With no path,
	// /services/collector/event is used.
	URL string `yaml:"url"`
	// Token is the HEC token, sent as "Authorization: Splunk <token>";
	// "${env:NAME}", or TokenFile names a file that holds it.
	Token     secret.Secret `yaml:"token"`
	TokenFile string        `yaml:"token_file"`
	// Index, Source, Sourcetype and Host are set on every event when not
	// empty; Sourcetype defaults to cep:alert:<format>.
	Index      string `yaml:"index"`
	Source     string `yaml:"source"`
	Sourcetype string `yaml:"sourcetype"`
	Host       string `yaml:"host"`
	// Gzip compresses request bodies.
	Gzip bool `yaml:"gzip"`
	// Ack waits for indexer acknowledgement of each batch: a batch counts
	// as delivered only when Splunk says it is indexed. The token must have
	// acknowledgement enabled. The sink's timeout covers the request and
	// the wait.
	Ack bool `yaml:"ack"`
	// Channel is the X-Splunk-Request-Channel GUID; default: a random one
	// per process.
	Channel string `yaml:"channel"`
	// AckPollInterval is the pause between acknowledgement polls; default
	// 500ms.
	AckPollInterval time.Duration `yaml:"ack_poll_interval"`
	// HTTPConfig holds tls and follow_redirects.
	transport.HTTPConfig `yaml:",inline"`
}

// Validate implements transport.Config.
func (c *Config) Validate(transport.Settings) []error {
	errs := transport.ValidateURL("url", c.URL, true)
	if c.Token == "" && c.TokenFile == "" {
		errs = append(errs, fmt.Errorf("token: required (or token_file)"))
	}
	if c.AckPollInterval < 0 {
		errs = append(errs, fmt.Errorf("ack_poll_interval: must not be negative"))
	}
	return append(errs, c.HTTPConfig.Validate()...)
}

type hecTransport struct {
	cfg      Config
	client   *http.Client
	eventURL string
	ackURL   string
	json     bool
	clock    transport.Clock
	head     []byte // constant envelope members after "time"
	scratch  []byte
	zw       *gzip.Writer
}

func newHEC(c Config, env transport.Env) (*hecTransport, error) {
	client, err := transport.HTTPClient(c.HTTPConfig)
	if err != nil {
		return nil, err
	}
	u, _ := url.Parse(c.URL)
	if u.Path == "" || u.Path == "/" {
		u.Path = "/services/collector/event"
	}
	ack := *u
	ack.Path = "/services/collector/ack"
	if c.Channel == "" {
		c.Channel = newGUID()
	}
	if c.AckPollInterval == 0 {
		c.AckPollInterval = 500 * time.Millisecond
	}
	if c.Sourcetype == "" {
		c.Sourcetype = "cep:alert:" + env.Format
	}
	var head []byte
	for _, kv := range [][2]string{{"host", c.Host}, {"source", c.Source}, {"sourcetype", c.Sourcetype}, {"index", c.Index}} {
		if kv[1] != "" {
			head = append(head, ',', '"')
			head = append(head, kv[0]...)
			head = append(head, '"', ':')
			head = jsonx.AppendString(head, kv[1])
		}
	}
	head = append(head, `,"event":`...)
	return &hecTransport{cfg: c, client: client, eventURL: u.String(), ackURL: ack.String() + "?channel=" + url.QueryEscape(c.Channel), json: env.JSON, clock: env.Clock, head: head}, nil
}

// newGUID returns a random (version 4) UUID, the form HEC wants for a
// channel id.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// body builds the batch: one event envelope per alert, concatenated, as
// HEC's batch protocol takes them. Text formats (CEF, LEEF) are sent as
// JSON strings.
func (h *hecTransport) body(batch []transport.Record) []byte {
	b := h.scratch[:0]
	for i := range batch {
		r := &batch[i]
		b = append(b, `{"time":`...)
		ms := r.Time / int64(time.Millisecond)
		b = strconv.AppendInt(b, ms/1000, 10)
		b = append(b, '.')
		frac := ms % 1000
		if frac < 0 {
			frac += 1000
		}
		b = append(b, byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
		b = append(b, h.head...)
		if h.json {
			b = append(b, r.Body...)
		} else {
			b = jsonx.AppendString(b, string(r.Body))
		}
		b = append(b, '}', '\n')
	}
	h.scratch = b
	return b
}

type hecResponse struct {
	Text  string `json:"text"`
	Code  int    `json:"code"`
	AckID *int64 `json:"ackId"`
}

// Start implements transport.Transport; HEC has nothing to check before
// the first batch that a down collector would not also fail.
func (h *hecTransport) Start(context.Context) error { return nil }

// Send implements transport.Transport.
func (h *hecTransport) Send(ctx context.Context, batch []transport.Record) error {
	body := h.body(batch)
	var payload io.Reader = bytes.NewReader(body)
	if h.cfg.Gzip {
		var zb bytes.Buffer
		if h.zw == nil {
			h.zw = gzip.NewWriter(&zb)
		} else {
			h.zw.Reset(&zb)
		}
		_, _ = h.zw.Write(body)
		_ = h.zw.Close()
		payload = &zb
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.eventURL, payload)
	if err != nil {
		return transport.Permanent(err)
	}
	req.Header.Set("Authorization", "Splunk "+h.cfg.Token.Reveal())
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Splunk-Request-Channel", h.cfg.Channel)
	if h.cfg.Gzip {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := h.client.Do(req)
	if err != nil {
		return err
	}
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return transport.StatusError(resp.StatusCode, rb)
	}
	if !h.cfg.Ack {
		return nil
	}
	var hr hecResponse
	if err := json.Unmarshal(rb, &hr); err != nil || hr.AckID == nil {
		return transport.Permanentf("HEC ack: response has no ackId (is indexer acknowledgement enabled on the token?): %s", rb)
	}
	return h.waitAck(ctx, *hr.AckID)
}

// waitAck polls until the indexers acknowledge ackID. If the context ends
// first the batch counts as failed and is sent again: at-least-once, with
// alert ids for downstream deduplication.
func (h *hecTransport) waitAck(ctx context.Context, id int64) error {
	q := []byte(`{"acks":[` + strconv.FormatInt(id, 10) + `]}`)
	key := strconv.FormatInt(id, 10)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.ackURL, bytes.NewReader(q))
		if err != nil {
			return transport.Permanent(err)
		}
		req.Header.Set("Authorization", "Splunk "+h.cfg.Token.Reveal())
		req.Header.Set("X-Splunk-Request-Channel", h.cfg.Channel)
		resp, err := h.client.Do(req)
		if err != nil {
			return fmt.Errorf("HEC ack poll: %w", err)
		}
		rb, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("HEC ack poll: HTTP %d: %s", resp.StatusCode, rb)
		}
		var ar struct {
			Acks map[string]bool `json:"acks"`
		}
		if err := json.Unmarshal(rb, &ar); err != nil {
			return fmt.Errorf("HEC ack poll: %w", err)
		}
		if ar.Acks[key] {
			return nil
		}
		select {
		case <-h.clock.After(h.cfg.AckPollInterval):
		case <-ctx.Done():
			return fmt.Errorf("HEC ack %d not confirmed: %w", id, ctx.Err())
		}
	}
}

// Close implements transport.Transport.
func (h *hecTransport) Close() error {
	h.client.CloseIdleConnections()
	return nil
}
