package transport

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/cep-project/cep/internal/secret"
)

// TLSConfig is client TLS for a transport.
type TLSConfig struct {
	// CAFile is a PEM bundle of CAs to trust instead of the system's.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are a client certificate, for mutual TLS.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name checked in the server's certificate.
	ServerName string `yaml:"server_name"`
	// InsecureSkipVerify disables certificate checks; for tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// Validate reports inconsistent settings under key.
func (t TLSConfig) Validate(key string) []error {
	var errs []error
	if (t.CertFile == "") != (t.KeyFile == "") {
		errs = append(errs, errors.New(key+".cert_file: cert_file and key_file go together"))
	}
	return errs
}

// Build returns the client TLS configuration, or nil when t asks for
// nothing beyond the defaults.
func (t TLSConfig) Build() (*tls.Config, error) {
	if t == (TLSConfig{}) {
		return nil, nil
	}
	c := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         t.ServerName,
		InsecureSkipVerify: t.InsecureSkipVerify, //nolint:gosec // opt-in, documented for tests only
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: %s holds no PEM certificate", t.CAFile)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// HTTPClient is a client for one destination. It has no overall timeout:
// each request carries the sink's timeout in its context.
func HTTPClient(t TLSConfig) (*http.Client, error) {
	tc, err := t.Build()
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tc,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &http.Client{Transport: tr}, nil
}

// ValidateURL checks that raw, under key, is an http or https URL.
func ValidateURL(key, raw string, required bool) []error {
	if raw == "" {
		if required {
			return []error{fmt.Errorf("%s: required", key)}
		}
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return []error{fmt.Errorf("%s: %s", key, secret.RedactError(err))}
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return []error{fmt.Errorf("%s: %q is not an http or https URL", key, secret.RedactURL(raw))}
	}
	return nil
}
