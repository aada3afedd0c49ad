package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cep-project/cep/alert"
)

// The hand-written baseline of cep bench --compare-handwritten: what a
// programmer would write for one detection without an engine — a single
// goroutine that reads the file line by line, picks the few fields it
// needs out of each line in one pass over its members (no values built,
// no validation beyond finding them; the generated lines are flat and
// have no escapes), a map from the watched value to the rules, and
// per-key state in a map. It makes the same matches as cep's rules,
// which the bench checks, so that cep's cost is measured against the
// least a program must do.

// handwrittenResult is the scanner's run.
type handwrittenResult struct {
	Seconds      float64 `json:"seconds"`
	CPUSeconds   float64 `json:"cpu_seconds"`
	EventsPerSec float64 `json:"events_per_sec"`
	Matches      int     `json:"matches"`
	// Identical is whether cep's alerts are exactly the scanner's matches.
	Identical bool `json:"identical"`
	// WallRatio and CPURatio are cep's wall and CPU time over the
	// scanner's.
	WallRatio float64 `json:"cep_wall_ratio"`
	CPURatio  float64 `json:"cep_cpu_ratio"`
}

// matchOf renders an alert as the scanner renders a match: the rule, the
// key and the evidence's event ids. It runs on the engine's goroutine in
// the timed run, as the scanner's rendering runs in its loop, so it is
// built in one allocation as the scanner's is: through fmt it took 4% of
// that goroutine's time in the sequence scenario.
func matchOf(al *alert.Alert) string {
	n := len(al.Rule) + 2 + len(al.Key) + len(al.Events)
	for _, k := range al.Key {
		if s, ok := k.Value.(string); ok {
			n += len(s)
		}
	}
	for _, e := range al.Events {
		if e.Event != nil {
			n += len(e.Event.ID)
		}
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString(al.Rule)
	b.WriteByte('|')
	for i, k := range al.Key {
		if i > 0 {
			b.WriteByte(',')
		}
		if s, ok := k.Value.(string); ok {
			b.WriteString(s)
		} else {
			fmt.Fprint(&b, k.Value)
		}
	}
	b.WriteByte('|')
	for i, e := range al.Events {
		if i > 0 {
			b.WriteByte(',')
		}
		if e.Event != nil {
			b.WriteString(e.Event.ID)
		}
	}
	return b.String()
}

// runHandwritten times the scanner of the scenario on one processor and
// compares its matches with cep's.
func runHandwritten(p benchParams, sc benchScenario, cepMatches []string) (*handwrittenResult, error) {
	prev := goruntime.GOMAXPROCS(1)
	defer goruntime.GOMAXPROCS(prev)
	var found []string
	cpu0 := cpuTime()
	start := time.Now()
	f, err := os.Open(sc.lines.f.Name())
	if err != nil {
		return nil, err
	}
	defer f.Close()
	switch p.scenario {
	case "filter":
		found, err = scanFilter(p, f)
	case "sequence":
		found, err = scanSequence(f)
	default:
		return nil, fmt.Errorf("no hand-written scanner for the %s scenario", p.scenario)
	}
	if err != nil {
		return nil, err
	}
	took := time.Since(start)
	cpuTook := cpuTime() - cpu0
	res := &handwrittenResult{
		Seconds: took.Seconds(), CPUSeconds: cpuTook.Seconds(),
		EventsPerSec: float64(sc.lines.n) / took.Seconds(), Matches: len(found),
	}
	got := slices.Clone(cepMatches)
	slices.Sort(got)
	slices.Sort(found)
	res.Identical = slices.Equal(got, found)
	return res, nil
}

// eachLine calls f with each line of r (the generated lines are shorter
// than the buffer).
func eachLine(r io.Reader, f func(line []byte)) error {
	br := bufio.NewReaderSize(r, 256*1024)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 1 {
			f(line[:len(line)-1])
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// members calls f with the name and the value's text (a string without
// its quotes) of each member of a flat JSON object, in one pass.
func members(line []byte, f func(name, val []byte)) {
	i := bytes.IndexByte(line, '{') + 1
	for i > 0 && i < len(line) {
		q := bytes.IndexByte(line[i:], '"')
		if q < 0 {
			return
		}
		start := i + q + 1
		end := bytes.IndexByte(line[start:], '"')
		if end < 0 {
			return
		}
		name := line[start : start+end]
		i = start + end + 1
		for i < len(line) && (line[i] == ':' || line[i] == ' ') {
			i++
		}
		if i >= len(line) {
			return
		}
		if line[i] == '"' {
			e := bytes.IndexByte(line[i+1:], '"')
			if e < 0 {
				return
			}
			f(name, line[i+1:i+1+e])
			i += e + 2
		} else {
			e := i
			for e < len(line) && line[e] != ',' && line[e] != '}' {
				e++
			}
			f(name, line[i:e])
			i = e
		}
		i++ // the comma
	}
}

// scanFilter is the filter scenario's watch list: the rules of one
// merchant, each with its amount threshold.
func scanFilter(p benchParams, r io.Reader) ([]string, error) {
	merchants := max(10000, p.rules)
	type watch struct {
		rule      int
		threshold float64
	}
	watched := map[string][]watch{}
	for i := 0; i < p.rules; i++ {
		m := fmt.Sprintf("m-%05d", i*merchants/p.rules)
		watched[m] = append(watched[m], watch{rule: i, threshold: float64(900 + i%50)})
	}
	var found []string
	err := eachLine(r, func(line []byte) {
		var typ, merchant, result, amount, card, id, ts []byte
		members(line, func(name, val []byte) {
			switch string(name) {
			case "type":
				typ = val
			case "merchant":
				merchant = val
			case "result":
				result = val
			case "amount":
				amount = val
			case "card_id":
				card = val
			case "id":
				id = val
			case "ts":
				ts = val
			}
		})
		// An engine knows every event's time; so does the scanner.
		if _, err := strconv.ParseInt(string(ts), 10, 64); err != nil {
			return
		}
		if string(typ) != "card_auth" || string(result) != "approved" {
			return
		}
		ws := watched[string(merchant)]
		if len(ws) == 0 {
			return
		}
		x, err := strconv.ParseFloat(string(amount), 64)
		if err != nil {
			return
		}
		for _, w := range ws {
			if x > w.threshold {
				found = append(found, "bench.watch-"+strconv.Itoa(w.rule)+"|"+string(card)+"|"+string(id))
			}
		}
	})
	return found, err
}

// scanSequence is the sequence scenario's a → b → c within 10 minutes,
// per key, as cep's rule matches it (Flink CEP's followedBy with the
// default skip-past-last strategy): each a opens a partial match, which
// takes the first b after it; a c completes the oldest partial match that
// has its b and began less than 10 minutes before, and the key's other
// partial matches, all begun before the c, are dropped.
func scanSequence(r io.Reader) ([]string, error) {
	const within = int64(10 * time.Minute / time.Millisecond)
	type partial struct {
		at   int64
		a, b string
	}
	state := map[string][]partial{}
	var found []string
	err := eachLine(r, func(line []byte) {
		var k, t, tsText, idText []byte
		members(line, func(name, val []byte) {
			switch string(name) {
			case "k":
				k = val
			case "t":
				t = val
			case "ts":
				tsText = val
			case "id":
				idText = val
			}
		})
		ts, err := strconv.ParseInt(string(tsText), 10, 64)
		if len(k) == 0 || len(t) != 1 || err != nil {
			return
		}
		ps := state[string(k)]
		live := ps[:0]
		for _, q := range ps {
			if ts-q.at < within {
				live = append(live, q)
			}
		}
		ps = live
		id := string(idText)
		switch t[0] {
		case 'a':
			ps = append(ps, partial{at: ts, a: id})
		case 'b':
			for i := range ps {
				if ps[i].b == "" {
					ps[i].b = id
				}
			}
		case 'c':
			for _, q := range ps {
				if q.b != "" {
					found = append(found, "bench.seq-0|"+string(k)+"|"+q.a+","+q.b+","+id)
					ps = ps[:0]
					break
				}
			}
		}
		if len(ps) == 0 {
			delete(state, string(k))
		} else {
			state[string(k)] = ps
		}
	})
	return found, err
}

// sigmaShapes are conditions of the shape SigmaHQ's Windows rules take
// once imported (cep import sigma): a log source's channel and event id,
// then case-insensitive tests of paths and command lines, some with a
// second log source as an alternative. %d varies a literal, so that
// several rules of one shape differ.
var sigmaShapes = []string{
	`event.Channel.iequals("Microsoft-Windows-Sysmon/Operational") && event.EventID == 1 ? (
    event.Image.iendsWith(r"\reg.exe") && event.CommandLine.icontainsAny([" save ", " export ", "hklm\\sam%d"])
  ) : event.Channel.iequals("Security") && event.EventID == 4688 ? (
    event.NewProcessName.iendsWith(r"\reg.exe") && event.CommandLine.icontainsAny([" save ", "hklm\\sam%d"])
  ) : false`,
	`event.Channel.iequals("Microsoft-Windows-Sysmon/Operational") && event.EventID == 10 &&
  event.TargetImage.iendsWith(r"\lsass.exe") && event.GrantedAccess.iin(["0x1010", "0x1410", "0x147a", "0x%d"]) &&
  !event.SourceImage.istartsWithAny([r"C:\Program Files\", r"C:\Windows\System32\%d"])`,
	`event.Channel.iequals("Microsoft-Windows-Sysmon/Operational") && event.EventID in [12, 13, 14] &&
  event.TargetObject.icontainsAny([r"\ms-settings\shell\open\command", r"\mscfile\shell\open\command%d"])`,
	`event.Channel.iequals("Microsoft-Windows-Sysmon/Operational") && event.EventID == 7 &&
  event.ImageLoaded.iendsWithAny([r"\dbghelp.dll", r"\dbgcore.dll%d"]) && !event.Image.istartsWith(r"C:\Windows\")`,
	`event.Channel.iequals("Microsoft-Windows-PowerShell/Operational") && event.EventID == 4103 &&
  event.Payload.icontainsAny(["Invoke-Mimikatz", "DownloadString", "-enc%d"])`,
	`event.Channel.iequals("Windows PowerShell") && event.EventID in [400, 600, 800] &&
  event.Message.icontainsAny(["IEX (New-Object", "FromBase64String", "Invoke-Shellcode%d"])`,
	`event.Channel.iequals("Security") && event.EventID in [4656, 4663] &&
  event.ObjectName.iendsWithAny([r"\SAM", r"\SECURITY", r"\SYSTEM%d"]) && !event.ProcessName.iendsWith(r"\lsass.exe")`,
	`event.Channel.iequals("Security") && event.EventID == 5156 &&
  event.DestPort == %d && event.Application.icontains(r"\windows\system32\")`,
	`event.Channel.iequals("Microsoft-Windows-Sysmon/Operational") && event.EventID == 11 &&
  event.TargetFilename.iendsWithAny([".ps1", ".vbs", ".hta%d"]) && event.TargetFilename.icontains(r"\AppData\")`,
	`event.Channel.iequals("Microsoft-Windows-Sysmon/Operational") && event.EventID == 3 &&
  event.DestinationPort in [445, 135, %d] && event.Image.iendsWithAny([r"\powershell.exe", r"\rundll32.exe"])`,
	`event.Channel.iequals("Microsoft-Windows-Sysmon/Operational") && event.EventID in [17, 18] &&
  event.PipeName.istartsWithAny([r"\PSHost", r"\msagent_%d", r"\postex_"])`,
	`event.Channel.iequals("Microsoft-Windows-Sysmon/Operational") && event.EventID == 1 &&
  event.ParentImage.iendsWith(r"\fodhelper.exe") && !event.Image.iendsWith(r"\conhost%d.exe")`,
	`event.Channel.iequals("Microsoft-Windows-Sysmon/Operational") && event.EventID == 13 &&
  event.TargetObject.wildcard(r"HKU\\*\Software\Classes\\*\shell\open\command%d*") && event.Details.iequals("(Empty)")`,
	`event.Channel.iequals("Security") && event.EventID == 4688 &&
  event.NewProcessName.iendsWithAny([r"\psexesvc.exe", r"\paexec%d.exe"])`,
	`event.Channel.iequals("System") && event.EventID == 7045 &&
  event.ImagePath.icontainsAny(["%%COMSPEC%%", "powershell", "cmd%d.exe /c"])`,
	`event.Channel.iequals("Microsoft-Windows-Sysmon/Operational") && event.EventID == 10 &&
  event.CallTrace.icontainsAny(["dbghelp.dll", "dbgcore.dll", "UNKNOWN(%d"]) && event.TargetImage.iendsWith(r"\lsass.exe")`,
	`event.Channel.iequals("Security") && event.EventID == 4673 &&
  event.PrivilegeList.icontains("SeDebugPrivilege%d") && !event.ProcessName.istartsWith(r"C:\Windows\System32\")`,
	`event.Channel.iequals("Microsoft-Windows-Sysmon/Operational") && event.EventID == 1 &&
  event.OriginalFileName.iin(["PsExec.exe", "PsExec64.exe", "psexec%d.exe"])`,
	`event.Channel.iequals("Security") && event.EventID == 5145 &&
  event.ShareName.iendsWith(r"\ADMIN$") && event.RelativeTargetName.iendsWith(".exe%d")`,
	`event.Channel.iequals("Microsoft-Windows-Sysmon/Operational") && event.EventID == 12 &&
  event.TargetObject.istartsWith(r"HKLM\SYSTEM\CurrentControlSet\Services\") && event.Image.iendsWith(r"\services%d.exe")`,
}

// shiftYears moves a line's "@timestamp" (RFC 3339 text, as Windows
// telemetry shipped by Logstash has it) k years on. A recording is a few
// seconds to hours long; its copies, a year apart, are each processed as
// the first is (their windows and sequences never meet), which makes a
// run long enough to measure once the process has warmed up.
func shiftYears(line string, k int) string {
	const field = `"@timestamp":"`
	i := strings.Index(line, field)
	if k == 0 || i < 0 || len(line) < i+len(field)+4 {
		return line
	}
	at := i + len(field)
	y, err := strconv.Atoi(line[at : at+4])
	if err != nil {
		return line
	}
	return line[:at] + strconv.Itoa(y+k) + line[at+4:]
}

// windowsScenario reads the telemetry of --input and makes --rules
// rules of Sigma's shape.
func windowsScenario(p benchParams) (benchScenario, error) {
	sc := benchScenario{streams: []string{"windows"}, late: true}
	for k := range p.copies {
		for _, in := range p.inputs {
			f, err := os.Open(in)
			if err != nil {
				return sc, fmt.Errorf("--input: %w", err)
			}
			br := bufio.NewReaderSize(f, 1<<20)
			for {
				line, err := br.ReadBytes('\n')
				if t := bytes.TrimSpace(line); len(t) > 0 {
					sc.add(shiftYears(string(t), k))
				}
				if err != nil {
					break
				}
			}
			f.Close()
		}
	}
	if sc.lines == nil {
		return sc, fmt.Errorf("--input: no lines")
	}
	if p.rulesFrom != "" {
		return sc, nil
	}
	for i := 0; i < p.rules; i++ {
		cond := fmt.Sprintf(sigmaShapes[i%len(sigmaShapes)], i/len(sigmaShapes))
		cond = strings.ReplaceAll(cond, "\n", "\n  ")
		sc.rules = append(sc.rules, fmt.Sprintf(`id: bench.sigma-%d
title: Sigma-shaped rule %d
streams: [windows]
missing_fields: false_if_missing
lenient_numbers: true
match: |-
  %s
alert:
  fields: {host: event.Hostname}
`, i, i, cond))
	}
	return sc, nil
}
