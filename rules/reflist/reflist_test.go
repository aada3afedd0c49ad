package reflist

import (
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
