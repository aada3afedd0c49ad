// Package syslog is the syslog sink transport: RFC 5424 messages over UDP,
// TCP or TLS, octet-counted on streams (RFC 6587 §3.4.1).
package syslog

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/sinks/siem/transport"
)

// Kind is the sink type and the key of its block.
const Kind = "syslog"

func init() {
	transport.Register(transport.Typed(Kind, newSyslog))
}

// Config is the syslog block: RFC 5424 messages over UDP, TCP or TLS.
// Over TCP and TLS each message is framed by octet counting (RFC 6587
// §3.4.1: "<length> <message>"), so a message may contain newlines.
type Config struct {
	// Network is udp, tcp or tls.
	Network string `yaml:"network"`
	// Address is host:port of the collector.
	Address string `yaml:"address"`
	// Facility is the syslog facility number (0–23); default 10 (authpriv),
	// where security messages belong. 0 (kern) cannot be chosen.
	Facility int `yaml:"facility"`
	// AppName, Hostname and MsgID fill the RFC 5424 header; defaults cep,
	// the machine's host name, and the format name in upper case.
	AppName  string              `yaml:"app_name"`
	Hostname string              `yaml:"hostname"`
	MsgID    string              `yaml:"msg_id"`
	TLS      transport.TLSConfig `yaml:"tls"`
	// BOM starts MSG with the UTF-8 byte order mark that RFC 5424 §6.4
	// asks of a UTF-8 MSG. Default false: CEF and LEEF parsers look for
	// "CEF:" or "LEEF:" at the very start of MSG, and many collectors
	// show a BOM as garbage; without it MSG is RFC 5424's MSG-ANY.
	BOM bool `yaml:"bom"`
	// UDPMaxBytes bounds one message over UDP; default 2048, which RFC
	// 5426 §3.2 says every receiver should take (at most 65507, a UDP
	// datagram over IPv4). Longer messages are cut or rejected, as
	// UDPOversize says.
	UDPMaxBytes int `yaml:"udp_max_bytes"`
	// UDPOversize is truncate (default: cut at a character boundary and
	// end with "…", counted in cep_sink_truncated_total) or reject (the
	// alert goes to the dead-letter file, counted in
	// cep_sink_failed_total{reason="rejected"}).
	UDPOversize string `yaml:"udp_oversize"`
}

// The udp_oversize policies.
const (
	OversizeTruncate = "truncate"
	OversizeReject   = "reject"
)

// Validate implements transport.Config.
func (c *Config) Validate(transport.Settings) []error {
	var errs []error
	switch c.Network {
	case "udp", "tcp", "tls":
	default:
		errs = append(errs, fmt.Errorf("network: %q is not udp, tcp or tls", c.Network))
	}
	if _, _, err := net.SplitHostPort(c.Address); err != nil {
		errs = append(errs, fmt.Errorf("address: %v", err))
	}
	if c.Facility < 0 || c.Facility > 23 {
		errs = append(errs, fmt.Errorf("facility: %d is outside 0–23", c.Facility))
	}
	if c.UDPMaxBytes != 0 && (c.UDPMaxBytes < 480 || c.UDPMaxBytes > maxUDPMessage) {
		errs = append(errs, fmt.Errorf("udp_max_bytes: %d is outside 480–%d", c.UDPMaxBytes, maxUDPMessage))
	}
	switch c.UDPOversize {
	case "", OversizeTruncate, OversizeReject:
	default:
		errs = append(errs, fmt.Errorf("udp_oversize: %q is not truncate or reject", c.UDPOversize))
	}
	return append(errs, c.TLS.Validate("tls")...)
}

// maxUDPMessage is the largest payload of one UDP datagram over IPv4;
// defaultUDPMessage is what RFC 5426 §3.2 says every receiver should take.
const (
	maxUDPMessage     = 65507
	defaultUDPMessage = 2048
)

// bom is the UTF-8 byte order mark of RFC 5424 §6.4.
const bom = "\ufeff"

// truncatedMark ends a message cut to fit a datagram.
const truncatedMark = "…"

type syslogTransport struct {
	cfg       Config
	truncated func(n int)
	tls       *tls.Config
	conn      net.Conn
	header    []byte // " HOST APP - MSGID - " after the timestamp
	scratch   []byte
}

func newSyslog(c Config, env transport.Env) (*syslogTransport, error) {
	if c.UDPMaxBytes == 0 {
		c.UDPMaxBytes = defaultUDPMessage
	}
	if c.UDPOversize == "" {
		c.UDPOversize = OversizeTruncate
	}
	if c.Facility == 0 {
		c.Facility = 10
	}
	if c.AppName == "" {
		c.AppName = "cep"
	}
	if c.Hostname == "" {
		c.Hostname, _ = os.Hostname()
	}
	if c.MsgID == "" {
		c.MsgID = upper(env.Format)
	}
	t := &syslogTransport{cfg: c, truncated: env.Truncated}
	if c.Network == "tls" {
		tc, err := c.TLS.Build()
		if err != nil {
			return nil, err
		}
		if tc == nil {
			tc = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if tc.ServerName == "" {
			tc.ServerName, _, _ = net.SplitHostPort(c.Address)
		}
		t.tls = tc
	}
	h := []byte{' '}
	h = appendHeaderField(h, c.Hostname, 255)
	h = append(h, ' ')
	h = appendHeaderField(h, c.AppName, 48)
	h = append(h, " - "...)
	h = appendHeaderField(h, c.MsgID, 32)
	h = append(h, " - "...)
	t.header = h
	return t, nil
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// appendHeaderField writes an RFC 5424 header field: printable US-ASCII
// without spaces, at most max characters, "-" when empty.
func appendHeaderField(dst []byte, s string, max int) []byte {
	n := 0
	for i := 0; i < len(s) && n < max; i++ {
		if c := s[i]; c > 32 && c < 127 {
			dst = append(dst, c)
			n++
		}
	}
	if n == 0 {
		dst = append(dst, '-')
	}
	return dst
}

// syslogSeverity maps an alert severity to the syslog severity.
func syslogSeverity(s alert.Severity) int {
	if r := s.Rank(); r >= 0 {
		// info 6 (informational) … critical 2 (critical)
		return 6 - r
	}
	return 6
}

// appendMessage writes one RFC 5424 message: PRI, version 1, the alert's
// event time in UTC with milliseconds, the header and the formatted alert
// as MSG, after a BOM when configured.
func (t *syslogTransport) appendMessage(dst []byte, r *transport.Record) []byte {
	dst = append(dst, '<')
	dst = strconv.AppendInt(dst, int64(t.cfg.Facility*8+syslogSeverity(r.Sev)), 10)
	dst = append(dst, '>', '1', ' ')
	dst = r.EventTime().AppendFormat(dst, "2006-01-02T15:04:05.000Z")
	dst = append(dst, t.header...)
	if t.cfg.BOM {
		dst = append(dst, bom...)
	}
	return append(dst, r.Body...)
}

func (t *syslogTransport) dial(ctx context.Context) error {
	if t.conn != nil {
		return nil
	}
	d := &net.Dialer{}
	var err error
	switch t.cfg.Network {
	case "tls":
		td := &tls.Dialer{NetDialer: d, Config: t.tls}
		t.conn, err = td.DialContext(ctx, "tcp", t.cfg.Address)
	default:
		t.conn, err = d.DialContext(ctx, t.cfg.Network, t.cfg.Address)
	}
	return err
}

// Start implements transport.Transport.
func (t *syslogTransport) Start(context.Context) error { return nil }

// Send implements transport.Transport.
func (t *syslogTransport) Send(ctx context.Context, batch []transport.Record) error {
	if err := t.dial(ctx); err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = t.conn.SetWriteDeadline(dl)
	} else {
		_ = t.conn.SetWriteDeadline(time.Time{})
	}
	if t.cfg.Network == "udp" {
		return t.sendUDP(batch)
	}
	b := t.scratch[:0]
	var msg []byte
	for i := range batch {
		msg = t.appendMessage(msg[:0], &batch[i])
		b = strconv.AppendInt(b, int64(len(msg)), 10)
		b = append(b, ' ')
		b = append(b, msg...)
	}
	t.scratch = b
	if _, err := t.conn.Write(b); err != nil {
		// The stream's state is unknown: reconnect, resend the batch.
		_ = t.conn.Close()
		t.conn = nil
		return err
	}
	return nil
}

func (t *syslogTransport) sendUDP(batch []transport.Record) error {
	var fails []transport.ItemFailure
	for i := range batch {
		msg := t.appendMessage(t.scratch[:0], &batch[i])
		t.scratch = msg
		if len(msg) > t.cfg.UDPMaxBytes {
			if t.cfg.UDPOversize == OversizeReject {
				fails = append(fails, transport.ItemFailure{Index: i, Reason: fmt.Sprintf("message of %d bytes exceeds udp_max_bytes %d; use tcp or udp_oversize: truncate", len(msg), t.cfg.UDPMaxBytes)})
				continue
			}
			msg = truncateUTF8(msg, t.cfg.UDPMaxBytes-len(truncatedMark))
			msg = append(msg, truncatedMark...)
			if t.truncated != nil {
				t.truncated(1)
			}
		}
		if _, err := t.conn.Write(msg); err != nil {
			for j := i; j < len(batch); j++ {
				fails = append(fails, transport.ItemFailure{Index: j, Retry: true, Reason: err.Error()})
			}
			break
		}
	}
	if len(fails) > 0 {
		return &transport.ItemsError{Items: fails}
	}
	return nil
}

// Close implements transport.Transport.
func (t *syslogTransport) Close() error {
	if t.conn == nil {
		return nil
	}
	err := t.conn.Close()
	t.conn = nil
	return err
}

// truncateUTF8 cuts b to at most n bytes, at the start of a character.
func truncateUTF8(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return b[:n]
}
