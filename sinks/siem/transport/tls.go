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

// The follow_redirects policies.
const (
	RedirectsNone     = "none"
	RedirectsSameHost = "same_host"
)

// HTTPConfig is what every HTTP transport block has, inline: client TLS
// and the redirect policy.
type HTTPConfig struct {
	TLS TLSConfig `yaml:"tls"`
	// FollowRedirects is same_host (default: a redirect to the same host
	// and port is followed, never from https to http) or none. A redirect
	// elsewhere is refused, so that the alert body, the credentials and
	// the signature headers never go to a host the config does not name;
	// the batch is retried, then spooled, like any failed send.
	FollowRedirects string `yaml:"follow_redirects"`
}

// Validate reports a bad TLS pair or redirect policy.
func (h HTTPConfig) Validate() []error {
	errs := h.TLS.Validate("tls")
	switch h.FollowRedirects {
	case "", RedirectsNone, RedirectsSameHost:
	default:
		errs = append(errs, fmt.Errorf("follow_redirects: %q is not none or same_host", h.FollowRedirects))
	}
	return errs
}

// HTTPClient is a client for one destination. It has no overall timeout:
// each request carries the sink's timeout in its context.
func HTTPClient(h HTTPConfig) (*http.Client, error) {
	tc, err := h.TLS.Build()
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
	return &http.Client{Transport: tr, CheckRedirect: checkRedirect(h.FollowRedirects)}, nil
}

// checkRedirect enforces a follow_redirects policy.
func checkRedirect(policy string) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		to := secret.RedactURL(req.URL.String())
		if policy == RedirectsNone {
			return fmt.Errorf("redirect to %s refused (follow_redirects: none)", to)
		}
		first := via[0].URL
		if req.URL.Host != first.Host || first.Scheme == "https" && req.URL.Scheme != "https" {
			return fmt.Errorf("redirect to %s refused: another host or a downgrade to http (follow_redirects: same_host)", to)
		}
		if len(via) >= 10 {
			return fmt.Errorf("stopped after %d redirects", len(via))
		}
		return nil
	}
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
