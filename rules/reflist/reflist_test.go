package reflist

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("tor.txt", "# exit nodes\n198.51.100.7\n\n203.0.113.0/24\n")
	write("assets.csv", "host,value,criticality\nweb,10.0.0.1,0.9\n")
	write("notes.md", "not a list")
	ls, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ls.Names(), ","); got != "assets,tor" {
		t.Errorf("names %s", got)
	}
	tor, _ := ls.Get("tor")
	for s, want := range map[string]bool{"198.51.100.7": true, "203.0.113.66": true, "203.0.114.1": false, "# exit nodes": false} {
		if tor.Contains(s) != want {
			t.Errorf("tor.Contains(%q) = %v", s, !want)
		}
	}
	assets, _ := ls.Get("assets")
	if v, ok := assets.Attr("10.0.0.1", "criticality"); !ok || v != "0.9" || assets.Len() != 1 {
		t.Errorf("Attr = %q, %v; len %d", v, ok, assets.Len())
	}
	if ls, err := Load(filepath.Join(dir, "missing")); err != nil || len(ls.Names()) != 0 {
		t.Errorf("a missing directory: %v, %v", ls.Names(), err)
	}
	write("tor.csv", "value\nx\n")
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), `list "tor" is also defined by`) {
		t.Errorf("duplicate list: %v", err)
	}
}

// FuzzMayBeAddr checks that every text netip.ParseAddr takes passes
// mayBeAddr, which turns texts away before it.
func FuzzMayBeAddr(f *testing.F) {
	for _, s := range []string{"1.2.3.4", "::1", "fe80::1%eth0", "::ffff:1.2.3.4", "2001:db8::1", "0.0.0.0", "m-0042", "abc", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if _, err := netip.ParseAddr(s); err == nil && !mayBeAddr(s) {
			t.Fatalf("mayBeAddr(%q) is false for an address", s)
		}
	})
}

// TestContainsTurnsAwayWithoutAllocating: a text that cannot be an
// address is not parsed as one.
func TestContainsTurnsAwayWithoutAllocating(t *testing.T) {
	ls := New(map[string][]string{"l": {"10.0.0.0/8", "x"}})
	l, _ := ls.Get("l")
	for s, want := range map[string]bool{"10.1.2.3": true, "m-0042": false, "abc": false, "x": true, "::1": false} {
		if l.Contains(s) != want {
			t.Errorf("Contains(%q) = %v", s, !want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { l.Contains("m-0042") }); n != 0 {
		t.Errorf("Contains of a text no address allocates %v times", n)
	}
}
