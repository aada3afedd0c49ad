package mapping

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestShippedMappingsLoad(t *testing.T) {
	names := Names()
	for _, want := range []string{"ecs", "windows-evtx", "windows-raw"} {
		if !slices.Contains(names, want) {
			t.Errorf("mapping %s is not shipped (have %v)", want, names)
		}
	}
	for _, n := range names {
		if _, err := Load(n); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}

func TestResolve(t *testing.T) {
	for _, c := range []struct {
		mapping  string
		src      Source
		stream   string
		variants []string
		field    string
		want     [][]string // the field's paths per variant; nil: absent
		where    []string   // the first variant's condition fields, placed
	}{
		{"windows-raw", Source{Product: "windows", Category: "process_creation"}, "windows", []string{"sysmon", "security-4688"},
			"Image", [][]string{{"Image"}, {"NewProcessName"}}, []string{"Channel", "EventID"}},
		{"windows-raw", Source{Product: "windows", Category: "process_creation"}, "windows", []string{"sysmon", "security-4688"},
			"OriginalFileName", [][]string{{"OriginalFileName"}, nil}, nil},
		{"windows-raw", Source{Product: "Windows", Service: "security"}, "windows", []string{""},
			"SubjectUserName", [][]string{{"SubjectUserName"}}, []string{"Channel"}},
		{"windows-raw", Source{Product: "windows", Category: "something_new"}, "windows", []string{""},
			"Computer", [][]string{{"Hostname"}}, nil},
		{"windows-evtx", Source{Product: "windows", Service: "system"}, "windows", []string{""},
			"EventID", [][]string{{"Event.System.EventID", "Event.System.EventID.#text"}}, []string{"Event.System.Channel"}},
		{"windows-evtx", Source{Product: "windows", Category: "process_creation"}, "windows", []string{"sysmon", "security-4688"},
			"Image", [][]string{{"Event.EventData.Image"}, {"Event.EventData.NewProcessName"}}, []string{"Event.System.Channel", "Event.System.EventID"}},
		{"ecs", Source{Product: "windows", Category: "process_creation"}, "windows", []string{""},
			"ParentCommandLine", [][]string{{"process.parent.command_line"}}, []string{"event.category", "event.type"}},
		{"ecs", Source{Product: "windows", Category: "process_creation"}, "windows", []string{""},
			"LogonId", [][]string{{"winlog.event_data.LogonId"}}, nil},
		{"windows-raw", Source{Product: "linux", Category: "process_creation"}, "linux_process_creation", []string{""},
			"Image", [][]string{{"Image"}}, nil},
		{"windows-raw", Source{Category: "proxy"}, "proxy", []string{""}, "c-uri", [][]string{{"c-uri"}}, nil},
	} {
		m, err := Load(c.mapping)
		if err != nil {
			t.Fatal(err)
		}
		tg, err := m.Resolve(c.src)
		if err != nil {
			t.Fatal(err)
		}
		if tg.Stream != c.stream {
			t.Errorf("%s %s: stream %q, want %q", c.mapping, c.src, tg.Stream, c.stream)
		}
		var names []string
		for _, v := range tg.Variants {
			names = append(names, v.Name)
		}
		if !slices.Equal(names, c.variants) {
			t.Errorf("%s %s: variants %v, want %v", c.mapping, c.src, names, c.variants)
			continue
		}
		for i, v := range tg.Variants {
			p, ok := v.Field(c.field)
			if c.want[i] == nil {
				if ok {
					t.Errorf("%s %s/%s: %s is %v, want absent", c.mapping, c.src, v.Name, c.field, p)
				}
				continue
			}
			if !slices.Equal(p, c.want[i]) {
				t.Errorf("%s %s/%s: %s is %v, want %v", c.mapping, c.src, v.Name, c.field, p, c.want[i])
			}
		}
		if c.where != nil {
			var got []string
			for _, w := range tg.Variants[0].Where {
				got = append(got, tg.Variants[0].WhereField(w.Field)[0])
			}
			if !slices.Equal(got, c.where) {
				t.Errorf("%s %s: where %v, want %v", c.mapping, c.src, got, c.where)
			}
		}
	}
}

func TestCaseInsensitive(t *testing.T) {
	m, _ := Load("ecs")
	for path, want := range map[string]bool{"process.executable": true, "PROCESS.EXECUTABLE": true, "winlog.event_data.Image": true, "event.category": false, "winlog": false} {
		if m.IsCaseInsensitive(path) != want {
			t.Errorf("%s: %v", path, !want)
		}
	}
}

func TestRefuseUnmapped(t *testing.T) {
	m, err := Load("windows-raw")
	if err != nil {
		t.Fatal(err)
	}
	m.Unmapped = "refuse"
	if _, err := m.Resolve(Source{Product: "linux"}); err == nil || !strings.Contains(err.Error(), "no log source linux") {
		t.Errorf("err = %v", err)
	}
}

func TestBadMapping(t *testing.T) {
	src, err := os.ReadFile("testdata/bad.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, errs := Parse("bad", "testdata/bad.yaml", src)
	var all []string
	for _, e := range errs {
		all = append(all, e.Error())
	}
	got := strings.Join(all, "\n")
	for _, want := range []string{
		"testdata/bad.yaml:3:11: unmapped must be one of passthrough, refuse",
		"a mapping needs a stream",
		"default_field must hold {}",
		"logsources[0] needs product, category or service",
		"where: EventID must be a string, number or bool",
		"testdata/bad.yaml:9:9: missing required key \"name\"",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in:\n%s", want, got)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, n := range Names() {
		b, _ := mappingsFS(n)
		f.Add(b)
	}
	bad, _ := os.ReadFile("testdata/bad.yaml")
	f.Add(bad)
	f.Fuzz(func(t *testing.T, src []byte) {
		m, errs := Parse("f", "f.yaml", src)
		if m == nil && len(errs) == 0 {
			t.Fatal("no mapping and no error")
		}
		if m != nil {
			_, _ = m.Resolve(Source{Product: "windows", Category: "process_creation"})
		}
	})
}
