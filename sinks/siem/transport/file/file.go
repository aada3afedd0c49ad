// Package file is the file and stdout sink transports: one alert per line,
// the file rotated by size.
package file

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/cep-project/cep/sinks/siem/transport"
)

// The sink types this package registers; File is also the key of the
// file block.
const (
	File   = "file"
	Stdout = "stdout"
)

func init() {
	k := transport.Typed(File, newFile)
	k.Shadow = true
	transport.Register(k)
	transport.Register(transport.Kind{
		Name: Stdout,
		New: func(_ transport.Config, env transport.Env) (transport.Transport, error) {
			return &writerTransport{w: env.Stdout}, nil
		},
		Shadow: true,
	})
}

// Config is the file block: one alert per line, rotated by size.
type Config struct {
	// Path is the file written; rotated files are Path.1 (newest) to
	// Path.<max_files>.
	Path string `yaml:"path"`
	// MaxBytes rotates the file before it would grow past this size;
	// default 100 MiB.
	MaxBytes int64 `yaml:"max_bytes"`
	// MaxFiles is how many rotated files are kept; default 5.
	MaxFiles int `yaml:"max_files"`
}

// ResolvePaths implements transport.PathResolver.
func (c *Config) ResolvePaths(resolve func(string) string) { c.Path = resolve(c.Path) }

// Validate implements transport.Config.
func (c *Config) Validate(transport.Settings) []error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, fmt.Errorf("path: required"))
	}
	if c.MaxBytes < 0 {
		errs = append(errs, fmt.Errorf("max_bytes: must not be negative"))
	}
	if c.MaxFiles < 0 {
		errs = append(errs, fmt.Errorf("max_files: must not be negative"))
	}
	return errs
}

// fileTransport appends lines and fsyncs each batch, so that "delivered"
// means on disk.
type fileTransport struct {
	cfg     Config
	f       *os.File
	size    int64
	scratch []byte
}

func newFile(c Config, _ transport.Env) (*fileTransport, error) {
	if c.MaxBytes == 0 {
		c.MaxBytes = 100 << 20
	}
	if c.MaxFiles == 0 {
		c.MaxFiles = 5
	}
	return &fileTransport{cfg: c}, nil
}

func (t *fileTransport) open() error {
	if t.f != nil {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(t.cfg.Path), 0o750); err != nil {
		return err
	}
	f, err := os.OpenFile(t.cfg.Path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	t.f, t.size = f, st.Size()
	return nil
}

func (t *fileTransport) rotate() error {
	if err := t.f.Close(); err != nil {
		return err
	}
	t.f = nil
	for i := t.cfg.MaxFiles - 1; i >= 1; i-- {
		from := t.cfg.Path + "." + strconv.Itoa(i)
		if _, err := os.Stat(from); err == nil {
			if err := os.Rename(from, t.cfg.Path+"."+strconv.Itoa(i+1)); err != nil {
				return err
			}
		}
	}
	if err := os.Rename(t.cfg.Path, t.cfg.Path+".1"); err != nil {
		return err
	}
	return t.open()
}

// Start implements transport.Transport: it creates the directory and opens
// the file, so that a path that cannot be written fails the start, with
// the path, instead of every alert later.
func (t *fileTransport) Start(context.Context) error {
	if err := t.open(); err != nil {
		return fmt.Errorf("cannot write %s: %w", t.cfg.Path, err)
	}
	return nil
}

// Send implements transport.Transport.
func (t *fileTransport) Send(_ context.Context, batch []transport.Record) error {
	if err := t.open(); err != nil {
		return err
	}
	for i := 0; i < len(batch); {
		b := t.scratch[:0]
		for ; i < len(batch); i++ {
			line := int64(len(batch[i].Body) + 1)
			if t.size+int64(len(b))+line > t.cfg.MaxBytes && t.size+int64(len(b)) > 0 {
				break
			}
			b = append(b, batch[i].Body...)
			b = append(b, '\n')
		}
		t.scratch = b
		if len(b) > 0 {
			if _, err := t.f.Write(b); err != nil {
				return err
			}
			t.size += int64(len(b))
		}
		if i < len(batch) {
			if err := t.f.Sync(); err != nil {
				return err
			}
			if err := t.rotate(); err != nil {
				return err
			}
		}
	}
	return t.f.Sync()
}

// Close implements transport.Transport.
func (t *fileTransport) Close() error {
	if t.f == nil {
		return nil
	}
	err := t.f.Close()
	t.f = nil
	return err
}

// writerTransport writes lines to a stream such as standard output.
type writerTransport struct {
	mu      sync.Mutex
	w       io.Writer
	scratch []byte
}

// Start implements transport.Transport.
func (t *writerTransport) Start(context.Context) error { return nil }

// Send implements transport.Transport.
func (t *writerTransport) Send(_ context.Context, batch []transport.Record) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.scratch[:0]
	for i := range batch {
		b = append(b, batch[i].Body...)
		b = append(b, '\n')
	}
	t.scratch = b
	_, err := t.w.Write(b)
	return err
}

// Close implements transport.Transport.
func (t *writerTransport) Close() error { return nil }
