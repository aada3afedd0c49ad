package event

import (
	"fmt"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // zones by name whatever the machine has installed
)

func TestParseTimeFormat(t *testing.T) {
	tests := []struct {
		in, want string // want: the format's String, or the error's text
	}{
		{"auto", "auto"},
		{"RFC3339", "rfc3339"},
		{"epoch_s", "epoch_s"},
		{"epoch_ms", "epoch_ms"},
		{"epoch_us", "epoch_us"},
		{"epoch_ns", "epoch_ns"},
		{"2006-01-02 15:04:05.000", "2006-01-02 15:04:05.000"},
		{"02/Jan/2006:15:04:05 -0700", "02/Jan/2006:15:04:05 -0700"},
		{"01/02/2006 03:04:05 PM", "01/02/2006 03:04:05 PM"},
		{"epoch_m", `unknown time format "epoch_m"`},
		{"", `unknown time format ""`},
		{"15:04:05", `time format "15:04:05" is neither a named format`},
		{"01/02/2006 03:04:05", `time format "01/02/2006 03:04:05" is neither`},
		{"2006-01-02 15:04", `is neither a named format`},
		{"yyyy-MM-dd", `is neither a named format`},
	}
	for _, tt := range tests {
		f, err := ParseTimeFormat(tt.in)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = f.String()
		}
		if !strings.Contains(got, tt.want) {
			t.Errorf("ParseTimeFormat(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if (TimeFormat{}).String() != "auto" {
		t.Error("the zero TimeFormat is not auto")
	}
}

func TestDecodeTimeFormats(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	newYork, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	const sysmon = "2006-01-02 15:04:05.000"
	tests := []struct {
		name       string
		timeField  string
		timeFields []string
		formats    []string
		zone       *time.Location
		line       string
		time       string // RFC 3339 of the event time, or
		errMsg     string
	}{
		{name: "first present of a list wins", timeFields: []string{"UtcTime", "@timestamp"}, formats: []string{sysmon, "rfc3339"},
			line: `{"@timestamp":"2020-10-18T07:50:07.001Z","UtcTime":"2020-10-18 07:50:06.220"}`, time: "2020-10-18T07:50:06.22Z"},
		{name: "the next field when the first is absent", timeFields: []string{"UtcTime", "@timestamp"}, formats: []string{sysmon, "rfc3339"},
			line: `{"@timestamp":"2020-10-18T07:50:07.001Z"}`, time: "2020-10-18T07:50:07.001Z"},
		{name: "a null field counts as absent", timeFields: []string{"UtcTime", "@timestamp"},
			line: `{"UtcTime":null,"@timestamp":"2020-10-18T07:50:07.001Z"}`, time: "2020-10-18T07:50:07.001Z"},
		{name: "a present field that does not parse is malformed", timeFields: []string{"UtcTime", "@timestamp"},
			line: `{"UtcTime":"soon","@timestamp":"2020-10-18T07:50:07.001Z"}`, errMsg: `field "UtcTime": invalid event time "soon"`},
		{name: "none present", timeFields: []string{"UtcTime", "@timestamp"},
			line: `{"ts":1}`, errMsg: `no event time: none of the fields "UtcTime", "@timestamp" is present`},
		{name: "time_field is tried before the list", timeField: "meta.when", timeFields: []string{"ts"},
			line: `{"ts":1,"meta":{"when":2}}`, time: "1970-01-01T00:00:02Z"},
		{name: "a nested path in the list", timeFields: []string{"Event.System.TimeCreated.#attributes.SystemTime"},
			line: `{"Event":{"System":{"TimeCreated":{"#attributes":{"SystemTime":"2020-09-22T04:28:40.612345Z"}}}}}`, time: "2020-09-22T04:28:40.612345Z"},
		{name: "a zone-less layout reads UTC by default", timeFields: []string{"UtcTime"}, formats: []string{sysmon},
			line: `{"UtcTime":"2020-10-18 07:50:06.220"}`, time: "2020-10-18T07:50:06.22Z"},
		{name: "a zone-less layout in a configured zone, summer", timeFields: []string{"EventTime"}, formats: []string{"2006-01-02 15:04:05"}, zone: berlin,
			line: `{"EventTime":"2020-10-18 07:50:06"}`, time: "2020-10-18T05:50:06Z"},
		{name: "a zone-less layout in a configured zone, winter", timeFields: []string{"EventTime"}, formats: []string{"2006-01-02 15:04:05"}, zone: berlin,
			line: `{"EventTime":"2020-01-18 07:50:06"}`, time: "2020-01-18T06:50:06Z"},
		{name: "a zone in the text wins over the configured one", formats: []string{"02/Jan/2006:15:04:05 -0700"}, zone: berlin,
			line: `{"ts":"18/Oct/2020:07:50:06 -0500"}`, time: "2020-10-18T12:50:06Z"},
		{name: "12-hour layout", formats: []string{"01/02/2006 03:04:05 PM"},
			line: `{"ts":"10/18/2020 07:50:06 PM"}`, time: "2020-10-18T19:50:06Z"},
		{name: "auto reads zone-less text in a configured zone", zone: newYork,
			line: `{"ts":"2020-10-18 07:50:06.220"}`, time: "2020-10-18T11:50:06.22Z"},
		{name: "auto reads zone-less text without fraction", zone: time.UTC,
			line: `{"ts":"2020-10-18 07:50:06"}`, time: "2020-10-18T07:50:06Z"},
		{name: "auto refuses zone-less text without a zone", line: `{"ts":"2020-10-18 07:50:06.220"}`,
			errMsg: `field "ts": event time "2020-10-18 07:50:06.220" has no zone: configure the stream's time zone to read it`},
		{name: "auto still reads zoned text with a zone configured", zone: newYork,
			line: `{"ts":"2020-10-18T07:50:06Z"}`, time: "2020-10-18T07:50:06Z"},
		{name: "layout mismatch", formats: []string{sysmon}, line: `{"ts":"2020-10-18T07:50:06Z"}`,
			errMsg: `field "ts": "2020-10-18T07:50:06Z" does not match the layout "2006-01-02 15:04:05.000"`},
		{name: "a layout refuses a zone in place of a fraction digit", formats: []string{sysmon}, line: `{"ts":"2000-10-01 00:00:00,00Z"}`,
			errMsg: `does not match the layout "2006-01-02 15:04:05.000"`},
		{name: "a layout takes a comma before the fraction, as Go does", formats: []string{sysmon}, line: `{"ts":"2000-10-01 00:00:00,250"}`,
			time: "2000-10-01T00:00:00.25Z"},
		{name: "layout out of range", formats: []string{sysmon}, line: `{"ts":"9999-10-18 07:50:06.000"}`,
			errMsg: `event time "9999-10-18 07:50:06.000" is out of range`},
		{name: "a layout takes strings only", formats: []string{sysmon}, line: `{"ts":1}`,
			errMsg: `a time in format 2006-01-02 15:04:05.000 must be a string, got number`},
		{name: "epoch_ms of a small number", formats: []string{"epoch_ms"}, line: `{"ts":1000}`, time: "1970-01-01T00:00:01Z"},
		{name: "epoch_ms as digits", formats: []string{"epoch_ms"}, line: `{"ts":"1714564800123"}`, time: "2024-05-01T12:00:00.123Z"},
		{name: "epoch_us", formats: []string{"epoch_us"}, line: `{"ts":1714564800123456}`, time: "2024-05-01T12:00:00.123456Z"},
		{name: "epoch_ns as digits is exact", formats: []string{"epoch_ns"}, line: `{"ts":"1714564800123456789"}`, time: "2024-05-01T12:00:00.123456789Z"},
		{name: "epoch_s with a fraction", formats: []string{"epoch_s"}, line: `{"ts":1714564800.5}`, time: "2024-05-01T12:00:00.5Z"},
		{name: "epoch_s of text", formats: []string{"epoch_s"}, line: `{"ts":"noon"}`, errMsg: `field "ts": "noon" is not epoch seconds`},
		{name: "epoch_s of a bool", formats: []string{"epoch_s"}, line: `{"ts":true}`, errMsg: `epoch seconds must be a number or digits, got bool`},
		{name: "epoch_s out of range", formats: []string{"epoch_s"}, line: `{"ts":1714564800123}`,
			errMsg: `field "ts": epoch seconds 1714564800123 is out of range`},
		{name: "the next format after one out of range", formats: []string{"epoch_s", "epoch_ms"}, line: `{"ts":1714564800123}`,
			time: "2024-05-01T12:00:00.123Z"},
		{name: "rfc3339 takes no numbers", formats: []string{"rfc3339"}, line: `{"ts":1}`,
			errMsg: "a time in format rfc3339 must be a string, got number"},
		{name: "rfc3339 takes no zone-less text", formats: []string{"rfc3339"}, zone: time.UTC, line: `{"ts":"2020-10-18 07:50:06"}`,
			errMsg: `"2020-10-18 07:50:06" is not RFC 3339 text`},
		{name: "none of several formats", formats: []string{sysmon, "rfc3339"}, line: `{"ts":"x"}`,
			errMsg: `field "ts": matches none of the time formats (2006-01-02 15:04:05.000: "x" does not match the layout "2006-01-02 15:04:05.000"; rfc3339: "x" is not RFC 3339 text such as 2024-05-01T12:00:00Z)`},
		{name: "an out-of-range error is the one reported", formats: []string{sysmon, "epoch_s"}, line: `{"ts":"99999999999"}`,
			errMsg: `field "ts": epoch seconds 99999999999 is out of range`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Decoder{TimeField: tt.timeField, TimeFields: tt.timeFields, TimeZone: tt.zone}
			for _, s := range tt.formats {
				f, err := ParseTimeFormat(s)
				if err != nil {
					t.Fatal(err)
				}
				d.TimeFormats = append(d.TimeFormats, f)
			}
			ev, err := d.Decode([]byte(tt.line))
			switch {
			case tt.errMsg != "":
				if err == nil || !strings.Contains(err.Error(), tt.errMsg) {
					t.Fatalf("error = %v, want %q", err, tt.errMsg)
				}
			case err != nil:
				t.Fatal(err)
			default:
				if got := ev.Timestamp().Format(time.RFC3339Nano); got != tt.time {
					t.Errorf("time = %s, want %s", got, tt.time)
				}
			}
		})
	}
}

// ExampleParseTimeFormat reads Sysmon's zone-less UtcTime, falling back to
// the collector's @timestamp.
func ExampleParseTimeFormat() {
	sysmon, err := ParseTimeFormat("2006-01-02 15:04:05.000")
	if err != nil {
		panic(err)
	}
	rfc, _ := ParseTimeFormat("rfc3339")
	d := Decoder{
		Stream:      "sysmon",
		TimeFields:  []string{"UtcTime", "@timestamp"},
		TimeFormats: []TimeFormat{sysmon, rfc},
		TimeZone:    time.UTC,
	}
	for _, line := range []string{
		`{"UtcTime":"2020-09-04 07:30:13.151","@timestamp":"2020-09-04T07:30:13.833Z"}`,
		`{"@timestamp":"2020-09-04T07:30:13.833Z"}`,
		`{"UtcTime":"04/09/2020 07:30"}`,
	} {
		ev, err := d.Decode([]byte(line))
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(ev.Timestamp().Format(time.RFC3339Nano))
	}
	// Output:
	// 2020-09-04T07:30:13.151Z
	// 2020-09-04T07:30:13.833Z
	// field "UtcTime": matches none of the time formats (2006-01-02 15:04:05.000: "04/09/2020 07:30" does not match the layout "2006-01-02 15:04:05.000"; rfc3339: "04/09/2020 07:30" is not RFC 3339 text such as 2024-05-01T12:00:00Z)
}
