package server

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/time/rate"
)

// Loopback reports whether a listen address binds only the loopback
// interface: "localhost", 127.0.0.0/8 or ::1. An empty host binds every
// interface.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Token reads a bearer token from an environment variable or a file; ""
// when neither is given.
func Token(env, file string) (string, error) {
	switch {
	case env != "" && file != "":
		return "", errors.New("give token_env or token_file, not both")
	case env != "":
		t := strings.TrimSpace(os.Getenv(env))
		if t == "" {
			return "", fmt.Errorf("environment variable %s is empty", env)
		}
		return t, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", err
		}
		t := strings.TrimSpace(string(b))
		if t == "" {
			return "", fmt.Errorf("%s is empty", file)
		}
		return t, nil
	}
	return "", nil
}

// CheckExposure refuses an address beyond loopback without a token: the
// admin API reloads rules and takes events, and must not be open to the
// network unauthenticated.
func CheckExposure(addr, token string) error {
	if token == "" && !Loopback(addr) {
		return fmt.Errorf("%s is not a loopback address and no token is set: the admin API listens beyond loopback only behind a bearer token (token_env or token_file)", addr)
	}
	return nil
}

// Guard wraps the admin API's handlers: a bearer token (when set), a rate
// limit over all clients, and a bound on request bodies.
type Guard struct {
	Token string
	// Limiter, when set, bounds requests per second; over it a request
	// gets 429 with Retry-After.
	Limiter *rate.Limiter
	// MaxBody bounds a request body; 0 means DefaultMaxBody.
	MaxBody int64
}

// DefaultMaxBody bounds admin request bodies unless configured.
const DefaultMaxBody = 1 << 20

// Wrap returns h behind the guard.
func (g *Guard) Wrap(h http.Handler) http.Handler {
	max := g.MaxBody
	if max <= 0 {
		max = DefaultMaxBody
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.Token != "" {
			got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(g.Token)) != 1 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="cep"`)
				writeError(w, http.StatusUnauthorized, "a bearer token is required")
				return
			}
		}
		if g.Limiter != nil && !g.Limiter.Allow() {
			w.Header().Set("Retry-After", "1")
			writeError(w, http.StatusTooManyRequests, "too many requests")
			return
		}
		if r.ContentLength > max {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", max))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		h.ServeHTTP(w, r)
	})
}

// Serve listens on addr and serves h until Close.
func Serve(addr string, h http.Handler) (*http.Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Addr: ln.Addr().String(), Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	go func() { _ = srv.Serve(ln) }()
	return srv, nil
}
