package syslog

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/sinks/siem"
	"github.com/cep-project/cep/sinks/siem/format"
	"github.com/cep-project/cep/sinks/siem/siemtest"
	"github.com/cep-project/cep/sinks/siem/sinktest"
	"github.com/cep-project/cep/sinks/siem/transport"
)

// readFrame reads one RFC 6587 octet-counted frame: MSG-LEN SP SYSLOG-MSG.
func readFrame(r *bufio.Reader) ([]byte, error) {
	n := 0
	digits := 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			if digits > 0 && errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		if c == ' ' && digits > 0 {
			break
		}
		if c < '0' || c > '9' || digits == 0 && c == '0' || digits >= 7 {
			return nil, fmt.Errorf("bad frame length byte %q", c)
		}
		n = n*10 + int(c-'0')
		digits++
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		return nil, err
	}
	return msg, nil
}

// rfc5424 matches the header cep writes.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (\S+) (\S+) - (\S+) - (.*)$`)

type syslogListener struct {
	mu   sync.Mutex
	msgs [][]byte
	ln   net.Listener
	pc   net.PacketConn
}

func (l *syslogListener) add(m []byte) {
	l.mu.Lock()
	l.msgs = append(l.msgs, m)
	l.mu.Unlock()
}

func (l *syslogListener) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.msgs)
}

func startSyslog(t testing.TB, network string, tc *tls.Config) (*syslogListener, string) {
	t.Helper()
	l := &syslogListener{}
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		l.pc = pc
		t.Cleanup(func() { pc.Close() })
		go func() {
			buf := make([]byte, 1<<16)
			for {
				n, _, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				l.add(append([]byte(nil), buf[:n]...))
			}
		}()
		return l, pc.LocalAddr().String()
	}
	var ln net.Listener
	var err error
	if tc != nil {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", tc)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	l.ln = ln
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					m, err := readFrame(r)
					if err != nil {
						return
					}
					l.add(m)
				}
			}()
		}
	}()
	return l, ln.Addr().String()
}

// selfSigned makes a certificate for 127.0.0.1 and writes it as a CA file.
func selfSigned(t testing.TB) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "cep-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	kb, _ := x509.MarshalECPrivateKey(key)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, ca
}

func TestSyslog(t *testing.T) {
	serverTLS, caFile := selfSigned(t)
	for _, tc := range []struct{ network, format string }{
		{"tcp", format.CEF}, {"tls", format.LEEF}, {"tls", format.JSON}, {"udp", format.CEF},
	} {
		t.Run(tc.network+"/"+tc.format, func(t *testing.T) {
			var stc *tls.Config
			if tc.network == "tls" {
				stc = serverTLS
			}
			listenNet := tc.network
			if listenNet == "tls" {
				listenNet = "tcp"
			}
			l, addr := startSyslog(t, listenNet, stc)
			block := &Config{Network: tc.network, Address: addr, Hostname: "det 01", AppName: "cep"}
			if tc.network == "tls" {
				block.TLS = transport.TLSConfig{CAFile: caFile}
			}
			c := siemtest.FastConfig("syslog", Kind, block)
			c.Format = tc.format
			s := siemtest.Start(t, siemtest.QuietOptions(), c)
			as := sinktest.Numbered(25)
			as[4].Title = "multi\nline | title"
			as[4].Severity = "critical"
			siemtest.SendAll(t, s, as)
			sinktest.Eventually(t, 5*time.Second, "25 messages", func() bool { return l.count() == 25 })
			siemtest.Stop(t, s)
			l.mu.Lock()
			defer l.mu.Unlock()
			for i, m := range l.msgs {
				g := rfc5424.FindSubmatch(m)
				if g == nil {
					t.Fatalf("message %d is not RFC 5424: %q", i, m)
				}
				pri, _ := strconv.Atoi(string(g[1]))
				wantSev := 4
				if i == 4 {
					wantSev = 2
				}
				if pri != 10*8+wantSev || string(g[3]) != "det01" || string(g[5]) != strings.ToUpper(tc.format) {
					t.Fatalf("message %d header %q", i, g[:6])
				}
				if !bytes.Contains(g[6], []byte(as[i].ID)) {
					t.Fatalf("message %d out of order: %q", i, g[6])
				}
			}
		})
	}
}

// The collector goes away and comes back: the sink reconnects and the
// alerts sent meanwhile arrive.
func TestSyslogReconnects(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := siemtest.FastConfig("syslog", Kind, &Config{Network: "tcp", Address: addr})
	s := siemtest.Start(t, siemtest.QuietOptions(), c)
	siemtest.SendAll(t, s, sinktest.Numbered(5))
	sinktest.Eventually(t, 5*time.Second, "spooled while no listener", func() bool { return siemtest.Health(s).SpoolRecords == 5 })
	ln2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("port taken meanwhile: %v", err)
	}
	l := &syslogListener{}
	go func() {
		cn, err := ln2.Accept()
		if err != nil {
			return
		}
		r := bufio.NewReader(cn)
		for {
			m, err := readFrame(r)
			if err != nil {
				return
			}
			l.add(m)
		}
	}()
	defer ln2.Close()
	sinktest.Eventually(t, 5*time.Second, "delivered after reconnect", func() bool { return l.count() == 5 })
	siemtest.Stop(t, s)
}

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte("5 hello3 abc"))
	f.Add([]byte("0 "))
	f.Add([]byte("99999999 x"))
	f.Add([]byte("12"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := bufio.NewReader(bytes.NewReader(b))
		var again []byte
		consumed := 0
		for {
			m, err := readFrame(r)
			if err != nil {
				break
			}
			again = strconv.AppendInt(again, int64(len(m)), 10)
			again = append(again, ' ')
			again = append(again, m...)
			consumed = len(again)
		}
		if !bytes.Equal(again, b[:consumed]) {
			t.Fatalf("frames re-encode to %q, input %q", again, b[:consumed])
		}
	})
}

func BenchmarkSyslogTCP(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				r := bufio.NewReaderSize(c, 1<<16)
				for {
					if _, err := readFrame(r); err != nil {
						return
					}
				}
			}()
		}
	}()
	c := siemtest.FastConfig("syslog", Kind, &Config{Network: "tcp", Address: ln.Addr().String()})
	c.Format = format.CEF
	siemtest.BenchSink(b, c)
}

// RFC 5424 §6.4: a UTF-8 MSG starts with the BOM when asked (bom: true),
// and by default is MSG-ANY, starting with the format's own prefix.
func TestSyslogBOM(t *testing.T) {
	for _, withBOM := range []bool{false, true} {
		l, addr := startSyslog(t, "tcp", nil)
		c := siemtest.FastConfig("syslog", Kind, &Config{Network: "tcp", Address: addr, BOM: withBOM})
		c.Format = format.CEF
		s := siemtest.Start(t, siemtest.QuietOptions(), c)
		a := sinktest.Numbered(1)[0]
		a.Title = "Zürich"
		siemtest.SendAll(t, s, []*alert.Alert{a})
		sinktest.Eventually(t, 5*time.Second, "the message", func() bool { return l.count() == 1 })
		siemtest.Stop(t, s)
		g := rfc5424.FindSubmatch(l.msgs[0])
		if g == nil {
			t.Fatalf("not RFC 5424: %q", l.msgs[0])
		}
		msg := g[6]
		if got := bytes.HasPrefix(msg, []byte("\xef\xbb\xbfCEF:0|")); got != withBOM {
			t.Fatalf("bom %v: MSG %q", withBOM, msg)
		}
		if !withBOM && !bytes.HasPrefix(msg, []byte("CEF:0|")) {
			t.Fatalf("MSG %q", msg)
		}
	}
}

// A message longer than udp_max_bytes is cut at a character boundary with
// a marker and counted, or, under udp_oversize: reject, dead-lettered and
// counted; it never leaves as a datagram larger than the bound.
func TestSyslogUDPSize(t *testing.T) {
	for _, policy := range []string{OversizeTruncate, OversizeReject} {
		t.Run(policy, func(t *testing.T) {
			l, addr := startSyslog(t, "udp", nil)
			c := siemtest.FastConfig("syslog", Kind, &Config{Network: "udp", Address: addr, UDPMaxBytes: 600, UDPOversize: policy})
			c.Format = format.JSON
			c.Spool.Dir = t.TempDir()
			reg := prometheus.NewRegistry()
			opts := siemtest.QuietOptions()
			opts.Metrics, _ = siem.NewMetrics(reg)
			s := siemtest.Start(t, opts, c)
			as := sinktest.Numbered(3)
			as[1].Fields["note"] = strings.Repeat("ü", 2000) // 4,000 bytes
			siemtest.SendAll(t, s, as)
			want := 3
			if policy == OversizeReject {
				want = 2
			}
			sinktest.Eventually(t, 5*time.Second, "the datagrams", func() bool { return l.count() == want })
			siemtest.Stop(t, s)
			for _, m := range l.msgs {
				if len(m) > 600 || !utf8.Valid(m) {
					t.Fatalf("datagram of %d bytes (valid UTF-8: %v)", len(m), utf8.Valid(m))
				}
			}
			labels := map[string]string{"sink": "syslog"}
			switch policy {
			case OversizeTruncate:
				if !bytes.HasSuffix(l.msgs[1], []byte("…")) || siemtest.Metric(t, reg, "cep_sink_truncated_total", labels) != 1 {
					t.Fatalf("cut message %q, counted %v", l.msgs[1], siemtest.Metric(t, reg, "cep_sink_truncated_total", labels))
				}
			case OversizeReject:
				dead, _ := os.ReadFile(filepath.Join(c.Spool.Dir, siem.DeadLetterFile))
				if !bytes.Contains(dead, []byte("exceeds udp_max_bytes 600")) || siemtest.Metric(t, reg, "cep_sink_failed_total", map[string]string{"sink": "syslog", "reason": "rejected"}) != 1 {
					t.Fatalf("dead letters %s", dead)
				}
			}
		})
	}
}
