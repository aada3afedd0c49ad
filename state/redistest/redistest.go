// Package redistest starts real redis-server processes for tests: each on
// a free loopback port with its own temporary directory, stopped when the
// test ends. Tests of the Redis paths run against the real server, never a
// mock, so that what they prove holds for the Redis cep runs against.
//
// The server binary is redis-server from PATH (the Debian package;
// scripts/test installs it when it is missing). A test skips only when
// CEP_SKIP_REDIS=1 says so; without that, a missing binary fails it.
package redistest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// T is what the harness needs of a test: *testing.T and Ginkgo's
// GinkgoT() both provide it.
type T interface {
	Helper()
	Cleanup(func())
	Fatalf(format string, args ...any)
	Skip(args ...any)
	TempDir() string
	Logf(format string, args ...any)
}

// SkipVariable, set to 1, lets tests skip the Redis paths on a machine
// without redis-server. CI never sets it.
const SkipVariable = "CEP_SKIP_REDIS"

// Server is one redis-server process. Its data persists in its directory
// across Restart (an append-only file, fsynced every second), as a
// production server's would.
type Server struct {
	t    T
	bin  string
	dir  string
	port int
	conf []string

	mu  sync.Mutex
	cmd *exec.Cmd
	log *os.File
}

// Option adds redis.conf directives ("maxmemory 10mb").
type Option string

// Binary finds redis-server, or skips or fails t.
func Binary(t T) string {
	t.Helper()
	if os.Getenv(SkipVariable) == "1" {
		t.Skip("Redis tests skipped: " + SkipVariable + "=1")
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server is not installed (apt-get install -y redis-server; scripts/test installs it), or set %s=1 to skip the Redis tests: %v", SkipVariable, err)
	}
	return bin
}

// Start starts a server; it is stopped when the test ends.
func Start(t T, opts ...Option) *Server {
	t.Helper()
	s := &Server{t: t, bin: Binary(t), dir: t.TempDir()}
	for _, o := range opts {
		s.conf = append(s.conf, string(o))
	}
	s.port = freePort(t)
	s.start()
	t.Cleanup(s.Stop)
	return s
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port is the server's port.
func (s *Server) Port() int { return s.port }

// Dir is the server's working directory (its data and log).
func (s *Server) Dir() string { return s.dir }

func (s *Server) start() {
	s.t.Helper()
	conf := []string{
		"port " + strconv.Itoa(s.port),
		"bind 127.0.0.1",
		"dir " + s.dir,
		"save \"\"",
		"appendonly yes",
		"appendfsync everysec",
		"protected-mode yes",
		"daemonize no",
		"logfile \"\"",
	}
	conf = append(conf, s.conf...)
	path := filepath.Join(s.dir, "redis.conf")
	if err := os.WriteFile(path, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		s.t.Fatalf("redistest: %v", err)
	}
	log, err := os.OpenFile(filepath.Join(s.dir, "redis.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		s.t.Fatalf("redistest: %v", err)
	}
	cmd := exec.Command(s.bin, path)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = log, log
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		log.Close()
		s.t.Fatalf("redistest: starting redis-server: %v", err)
	}
	s.mu.Lock()
	s.cmd, s.log = cmd, log
	s.mu.Unlock()
	if err := s.waitReady(10 * time.Second); err != nil {
		s.Kill()
		s.t.Fatalf("redistest: redis-server on port %d did not come up: %v\n%s", s.port, err, s.tail())
	}
}

// waitReady waits until the server answers PING with PONG and has loaded
// its data.
func (s *Server) waitReady(within time.Duration) error {
	deadline := time.Now().Add(within)
	var last error
	for time.Now().Before(deadline) {
		reply, err := s.Do("PING")
		if err == nil && reply == "PONG" {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("PING: %s", reply)
		}
		last = err
		time.Sleep(20 * time.Millisecond)
	}
	return last
}

// Do sends one command over a fresh connection and returns the first line
// of the reply: enough for the harness's PING and CLUSTER commands, with
// no client library under test involved.
func (s *Server) Do(args ...string) (string, error) {
	var line string
	err := s.send(args, func(r *bufio.Reader) error {
		l, err := r.ReadString('\n')
		line = strings.TrimRight(l, "\r\n")
		return err
	})
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(line, "-") {
		return "", errors.New(line[1:])
	}
	return strings.TrimLeft(line, "+:$"), nil
}

// send writes a command in RESP and hands the reply to read.
func (s *Server) send(args []string, read func(*bufio.Reader) error) error {
	c, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return err
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		return err
	}
	return read(bufio.NewReader(c))
}

// Stop shuts the server down gracefully (its data stays in its
// directory). It is safe to call twice.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	s.wait(cmd, 10*time.Second)
}

// Kill kills the server with SIGKILL.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd := s.cmd
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	s.wait(cmd, 10*time.Second)
}

func (s *Server) wait(cmd *exec.Cmd, within time.Duration) {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(within):
		_ = cmd.Process.Kill()
		<-done
	}
	s.mu.Lock()
	if s.cmd == cmd {
		s.cmd = nil
		_ = s.log.Close()
	}
	s.mu.Unlock()
}

// Restart stops the server gracefully and starts it again on the same
// port with the same data.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// StartAgain starts a stopped server on its port with its data.
func (s *Server) StartAgain() {
	s.t.Helper()
	s.start()
}

func (s *Server) tail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// freePort asks the kernel for a free loopback port. Another process may
// take it before redis-server binds it; start then fails loudly.
func freePort(t T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port
}

// Cluster is a Redis Cluster of masters without replicas, each a Server.
type Cluster struct {
	Nodes []*Server
}

// StartCluster starts n servers in cluster mode and joins them into one
// cluster with the 16384 slots spread across them.
func StartCluster(t T, n int) *Cluster {
	t.Helper()
	c := &Cluster{}
	for range n {
		c.Nodes = append(c.Nodes, Start(t, "cluster-enabled yes", "cluster-node-timeout 5000",
			Option("cluster-config-file nodes.conf")))
	}
	for i, node := range c.Nodes {
		lo, hi := i*16384/n, (i+1)*16384/n-1
		args := []string{"CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(lo), strconv.Itoa(hi)}
		if _, err := node.Do(args...); err != nil {
			t.Fatalf("redistest: %s: %v", strings.Join(args, " "), err)
		}
		if i > 0 {
			if _, err := node.Do("CLUSTER", "MEET", "127.0.0.1", strconv.Itoa(c.Nodes[0].port)); err != nil {
				t.Fatalf("redistest: CLUSTER MEET: %v", err)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, node := range c.Nodes {
		for {
			info, err := node.info("CLUSTER", "INFO")
			if err == nil && strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:"+strconv.Itoa(n)) {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatalf("redistest: the cluster did not form: %v %q", err, info)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return c
}

// Addrs lists the nodes' addresses.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.Addr())
	}
	return out
}

// info runs a command whose reply is one bulk string and returns it whole.
func (s *Server) info(args ...string) (string, error) {
	var out string
	err := s.send(args, func(r *bufio.Reader) error {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, "$") {
			return fmt.Errorf("unexpected reply %q", line)
		}
		n, err := strconv.Atoi(strings.TrimSpace(line[1:]))
		if err != nil {
			return err
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return err
		}
		out = string(buf[:n])
		return nil
	})
	return out, err
}
