package format

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/cep-project/cep/alert"
	"github.com/cep-project/cep/sinks/siem/sinktest"
)

// These tests read what cep writes the way the receivers do: QRadar parses
// devTime with Java's SimpleDateFormat and the devTimeFormat the message
// declares; ArcSight keeps 4,000 characters of a custom string.

// simpleDateParse reads value with a SimpleDateFormat pattern, for the
// letters cep declares (y M d H m s S Z and quoted literals), following
// the JDK's documentation: Z is an RFC 822 zone, "-0800", or a general
// one, "GMT-08:00"; a letter 'Z' is neither.
func simpleDateParse(pattern, value string) (time.Time, error) {
	var year, month, day, hour, minute, sec, milli int
	offset := 0
	v := value
	num := func(n int) (int, error) {
		if len(v) < n {
			return 0, fmt.Errorf("%q: want %d digits", v, n)
		}
		x, err := strconv.Atoi(v[:n])
		if err != nil {
			return 0, fmt.Errorf("%q: not a number", v[:n])
		}
		v = v[n:]
		return x, nil
	}
	for i := 0; i < len(pattern); {
		c := pattern[i]
		if c == '\'' {
			j := strings.IndexByte(pattern[i+1:], '\'') + i + 1
			lit := pattern[i+1 : j]
			if !strings.HasPrefix(v, lit) {
				return time.Time{}, fmt.Errorf("%q: want literal %q", v, lit)
			}
			v = v[len(lit):]
			i = j + 1
			continue
		}
		n := 1
		for i+n < len(pattern) && pattern[i+n] == c {
			n++
		}
		i += n
		var err error
		switch c {
		case 'y':
			year, err = num(n)
		case 'M':
			month, err = num(n)
		case 'd':
			day, err = num(n)
		case 'H':
			hour, err = num(n)
		case 'm':
			minute, err = num(n)
		case 's':
			sec, err = num(n)
		case 'S':
			milli, err = num(n)
		case 'Z':
			v = strings.TrimPrefix(v, "GMT")
			if len(v) < 5 || v[0] != '+' && v[0] != '-' {
				return time.Time{}, fmt.Errorf("%q: not an RFC 822 time zone", v)
			}
			digits := strings.ReplaceAll(v[1:min(len(v), 6)], ":", "")
			hh, err1 := strconv.Atoi(digits[:2])
			mm, err2 := strconv.Atoi(digits[2:4])
			if err1 != nil || err2 != nil {
				return time.Time{}, fmt.Errorf("%q: not an RFC 822 time zone", v)
			}
			offset = (hh*60 + mm) * 60
			if v[0] == '-' {
				offset = -offset
			}
			v = v[5:]
		default:
			if !strings.HasPrefix(v, pattern[i-n:i]) {
				return time.Time{}, fmt.Errorf("%q: want %q", v, pattern[i-n:i])
			}
			v = v[n:]
		}
		if err != nil {
			return time.Time{}, err
		}
	}
	if v != "" {
		return time.Time{}, fmt.Errorf("%q left over", v)
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, milli*1e6, time.FixedZone("", offset)), nil
}

// leefTimes returns the devTimeFormat, devTime, firstSeen and lastSeen of
// a LEEF line.
func leefTimes(tb testing.TB, line string) (pattern string, times []string) {
	_, attrs := parseLEEF(tb, line)
	for _, k := range []string{"devTime", "firstSeen", "lastSeen"} {
		if v, ok := attrs[k]; ok {
			times = append(times, v)
		}
	}
	return attrs["devTimeFormat"], times
}

func TestLEEFDevTimeParsesWithItsFormat(t *testing.T) {
	a := sinktest.SampleAlerts(t)["summary"]
	out, err := newLEEF(DefaultProduct, '^').Append(nil, a)
	if err != nil {
		t.Fatal(err)
	}
	pattern, times := leefTimes(t, string(out))
	want := []time.Time{a.Time, *a.FirstSeen, *a.LastSeen}
	if len(times) != 3 {
		t.Fatalf("times %q", times)
	}
	for i, v := range times {
		got, err := simpleDateParse(pattern, v)
		if err != nil {
			t.Fatalf("%s with %s: %v", v, pattern, err)
		}
		if !got.Equal(want[i].Truncate(time.Millisecond)) {
			t.Fatalf("%s reads as %v, want %v", v, got, want[i])
		}
	}
	javaParse(t, pattern, times, want)
}

// javaParse runs Java's own SimpleDateFormat, strict, over the times when
// a JDK is installed: the reader QRadar uses.
func javaParse(t *testing.T, pattern string, times []string, want []time.Time) {
	t.Helper()
	java, err := exec.LookPath("java")
	if err != nil {
		t.Log("no java on PATH: SimpleDateFormat itself not run")
		return
	}
	src := filepath.Join(t.TempDir(), "LeefTime.java")
	prog := `import java.text.SimpleDateFormat;
public class LeefTime {
  public static void main(String[] a) throws Exception {
    SimpleDateFormat f = new SimpleDateFormat(a[0]);
    f.setLenient(false);
    for (int i = 1; i < a.length; i++) System.out.println(f.parse(a[i]).getTime());
  }
}`
	if err := os.WriteFile(src, []byte(prog), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(java, append([]string{src, pattern}, times...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("SimpleDateFormat(%q) rejects %q: %v\n%s", pattern, times, err, out)
	}
	for i, line := range strings.Fields(string(out)) {
		if ms, _ := strconv.ParseInt(line, 10, 64); ms != want[i].UnixMilli() {
			t.Fatalf("SimpleDateFormat reads %s as %d, want %d", times[i], ms, want[i].UnixMilli())
		}
	}
}

// javaLen counts characters as Java (and so ArcSight) does.
func javaLen(s string) int { return len(utf16.Encode([]rune(s))) }

// ArcSight keeps 4,000 characters of cs1–cs6: longer values are cut with
// a marker, stay valid JSON where they were JSON, and are named in
// flexString1.
func TestCEFCustomStringsFitArcSight(t *testing.T) {
	long := strings.Repeat("é\U0001F600x", 3000) // 9,000 characters, 12,000 UTF-16 units
	a := &alert.Alert{
		ID: "id", Rule: "r", RuleVersion: strings.Repeat("v", 4001), Title: "t", Severity: alert.High, Time: sinktest.BaseTime,
		Key:    alert.Key{{Expr: "event.user", Value: "u"}},
		Tags:   []string{long[:100]},
		Fields: map[string]any{"note": long, "n": 1.0},
	}
	out, err := newCEF(DefaultProduct).Append(nil, a)
	if err != nil {
		t.Fatal(err)
	}
	_, ext := parseCEF(t, string(out))
	for k, v := range ext {
		if strings.HasPrefix(k, "cs") && !strings.HasSuffix(k, "Label") && javaLen(v) > 4000 {
			t.Errorf("%s holds %d characters", k, javaLen(v))
		}
	}
	if !strings.HasSuffix(ext["cs1"], "…") || javaLen(ext["cs1"]) != 4000 {
		t.Errorf("cs1 %d characters, ends %q", javaLen(ext["cs1"]), ext["cs1"][len(ext["cs1"])-5:])
	}
	var cut string
	if err := json.Unmarshal([]byte(ext["cs4"]), &cut); err != nil || !strings.HasSuffix(cut, "…") || !strings.HasPrefix(cut, `{"n":1,"note":"é`) {
		t.Errorf("cs4 is not the cut JSON text as a JSON string: %.80q…: %v", ext["cs4"], err)
	}
	var tags []string
	if err := json.Unmarshal([]byte(ext["cs3"]), &tags); err != nil || tags[0] != a.Tags[0] {
		t.Errorf("cs3 %q: %v", ext["cs3"], err)
	}
	var flagged []string
	if err := json.Unmarshal([]byte(ext["flexString1"]), &flagged); err != nil || strings.Join(flagged, ",") != "cs1,cs4" || ext["flexString1Label"] != "truncated" {
		t.Errorf("flexString1 %q: %v", ext["flexString1"], err)
	}
	small, _ := newCEF(DefaultProduct).Append(nil, sinktest.SampleAlerts(t)["basic"])
	if strings.Contains(string(small), "flexString1") {
		t.Errorf("a short alert is flagged: %s", small)
	}
}

// ["a,b"] and ["a","b"] are different lists and must not be written alike.
func TestCEFAndLEEFListsAreUnambiguous(t *testing.T) {
	one := &alert.Alert{ID: "x", Time: sinktest.BaseTime, Tags: []string{"a,b"}, Reasons: []string{"p; q"}}
	two := &alert.Alert{ID: "x", Time: sinktest.BaseTime, Tags: []string{"a", "b"}, Reasons: []string{"p", "q"}}
	for _, f := range []Formatter{newCEF(DefaultProduct), newLEEF(DefaultProduct, '^')} {
		x, _ := f.Append(nil, one)
		y, _ := f.Append(nil, two)
		if string(x) == string(y) {
			t.Errorf("%s: %s", f.Name(), x)
		}
	}
}
