// Package reflist holds reference lists: sets of values such as Tor exit
// nodes or high-risk merchant categories, read from a lists directory.
// Rules test membership with in_list; a CSV list also carries context
// columns (an asset's criticality) that the alert pipeline reads.
package reflist

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// List is a reference list such as Tor exit nodes or high-risk merchant
// categories. Entries that parse as CIDR prefixes also match every address
// inside them, so an IP blocklist may mix addresses and ranges.
type List struct {
	Name     string
	File     string
	exact    map[string]struct{}
	prefixes []netip.Prefix
	// columns and rows hold a CSV list's other columns, so a list can be
	// context data (an asset's criticality, an owner) as well as a set.
	columns []string
	rows    map[string][]string
}

// Attr returns column of the CSV row whose value is v.
func (l *List) Attr(v, column string) (string, bool) {
	row, ok := l.rows[v]
	if !ok {
		return "", false
	}
	for i, c := range l.columns {
		if c == column && i < len(row) {
			return row[i], true
		}
	}
	return "", false
}

// Len returns the number of entries.
func (l *List) Len() int { return len(l.exact) + len(l.prefixes) }

// Contains reports whether s is an entry, or an IP address inside a CIDR
// entry.
func (l *List) Contains(s string) bool {
	if _, ok := l.exact[s]; ok {
		return true
	}
	if len(l.prefixes) == 0 || !mayBeAddr(s) {
		return false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return false
	}
	for _, p := range l.prefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// mayBeAddr reports whether s may be an IP address, so that a text that
// cannot be is turned away before netip.ParseAddr, whose error allocates:
// an IPv6 address has a colon, an IPv4 address starts with a digit and
// has a dot.
func mayBeAddr(s string) bool {
	return strings.IndexByte(s, ':') >= 0 || len(s) > 0 && s[0] >= '0' && s[0] <= '9' && strings.IndexByte(s, '.') >= 0
}

// Set holds the reference lists of a lists directory, by name.
type Set struct {
	m map[string]*List
}

// Get returns the list name.
func (ls *Set) Get(name string) (*List, bool) {
	if ls == nil {
		return nil, false
	}
	l, ok := ls.m[name]
	return l, ok
}

// Names returns the names of the lists, sorted.
func (ls *Set) Names() []string {
	if ls == nil {
		return nil
	}
	out := make([]string, 0, len(ls.m))
	for n := range ls.m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// New builds lists from entries, for tests and embedding.
func New(entries map[string][]string) *Set {
	ls := &Set{m: map[string]*List{}}
	for name, es := range entries {
		l := &List{Name: name, exact: map[string]struct{}{}}
		for _, e := range es {
			l.add(e)
		}
		ls.m[name] = l
	}
	return ls
}

func (l *List) add(e string) {
	if strings.Contains(e, "/") {
		if p, err := netip.ParsePrefix(e); err == nil {
			l.prefixes = append(l.prefixes, p.Masked())
			return
		}
	}
	l.exact[e] = struct{}{}
}

// Load reads every list in dir: NAME.txt holds one entry per line
// (blank lines and lines starting with # are skipped); NAME.csv has a header
// row and takes its entries from the column named "value", or the first
// column. A missing directory holds no lists.
func Load(dir string) (*Set, error) {
	ls := &Set{m: map[string]*List{}}
	if dir == "" {
		return ls, nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return ls, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lists: %w", err)
	}
	var errs []error
	for _, de := range entries {
		if de.IsDir() {
			continue
		}
		ext := filepath.Ext(de.Name())
		if ext != ".txt" && ext != ".csv" {
			continue
		}
		name := strings.TrimSuffix(de.Name(), ext)
		path := filepath.Join(dir, de.Name())
		if prev, dup := ls.m[name]; dup {
			errs = append(errs, fmt.Errorf("%s: list %q is also defined by %s", path, name, prev.File))
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		l := &List{Name: name, File: path, exact: map[string]struct{}{}}
		if ext == ".txt" {
			readText(l, data)
		} else if err := readCSV(l, data); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		ls.m[name] = l
	}
	return ls, errors.Join(errs...)
}

func readText(l *List, data []byte) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		l.add(line)
	}
}

func readCSV(l *List, data []byte) error {
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.Comment = '#'
	header, err := r.Read()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return err
	}
	col := 0
	for i, h := range header {
		h = strings.TrimSpace(h)
		l.columns = append(l.columns, h)
		if strings.EqualFold(h, "value") {
			col = i
		}
	}
	l.rows = map[string][]string{}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if col < len(rec) {
			if v := strings.TrimSpace(rec[col]); v != "" {
				l.add(v)
				for i := range rec {
					rec[i] = strings.TrimSpace(rec[i])
				}
				l.rows[v] = rec
			}
		}
	}
}
