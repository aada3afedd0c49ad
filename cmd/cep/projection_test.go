package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/examples/fraud/fraudgen"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/mapping"
	"github.com/cep-project/cep/rules/reflist"
	"github.com/cep-project/cep/rules/sigma"
	"github.com/cep-project/cep/runtime"
	"github.com/cep-project/cep/source"
)

// Projection must never change an answer: the tests here replay the same
// events through the same rules decoding every field, decoding only what
// the rules read (as cep run does), and decoding a projection that has
// nothing to do with the rules (as after a reload, before the sources
// follow), each on one and on several decoders, and require the same
// alerts, byte for byte, and the same evaluation error counts.

// projMode is how a replay's sources decode.
type projMode int

const (
	decodeAll projMode = iota
	decodeRead
	decodeStale
)

func (m projMode) String() string {
	return [...]string{"every field", "what rules read", "a stale projection"}[m]
}

// replayAlerts replays inputs (stream → JSON lines) through rs and
// returns the alerts as JSON lines and each rule's error count.
func replayAlerts(t *testing.T, rs []*rules.Rule, inputs map[string][]byte, mode projMode, decoders int, rnd *rand.Rand) ([]string, map[string]uint64) {
	t.Helper()
	for _, r := range rs {
		r.Health = &rules.Health{Rule: r.ID}
	}
	var srcs []source.Source
	streams := make([]string, 0, len(inputs))
	for s := range inputs {
		streams = append(streams, s)
	}
	slices.Sort(streams)
	// Decoding what rules read, the decoders also prepare the engine's
	// work, screen and hold ahead, as cep run's do.
	var prep *source.Preparation
	ecfg := correlate.Config{AllowedLateness: 5 * time.Second}
	if mode == decodeRead {
		prep = &source.Preparation{}
		ecfg.Prepare, ecfg.Screen = prep.Store, prep.StoreScreens
	}
	for _, s := range streams {
		spec := source.Spec{Name: s, Stream: s, Decoders: decoders, Prepare: prep}
		switch mode {
		case decodeRead:
			spec.Decoder.Project = rules.Projection(rs, s)
		case decodeStale:
			spec.Decoder.Project = staleProjection(inputs[s], rnd)
		}
		srcs = append(srcs, &source.Reading{Spec: spec, R: bytes.NewReader(inputs[s])})
	}
	sink := &collectSink{}
	rt, err := runtime.New(runtime.Config{Mode: runtime.Replay, Sort: true, Rules: rs, Sources: srcs, Sink: sink, Engine: ecfg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range sink.alerts {
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(b))
	}
	errs := map[string]uint64{}
	for _, r := range rs {
		if n := r.Health.Errors(); n > 0 {
			errs[r.ID] = n
		}
	}
	return out, errs
}

// staleProjection picks paths of the input's first lines at random.
func staleProjection(lines []byte, rnd *rand.Rand) *event.Projection {
	var paths [][]string
	var walk func(prefix []string, m map[string]any)
	walk = func(prefix []string, m map[string]any) {
		for k, v := range m {
			p := append(slices.Clone(prefix), k)
			if rnd.IntN(4) == 0 {
				paths = append(paths, p)
			}
			if sub, ok := v.(map[string]any); ok {
				walk(p, sub)
			}
		}
	}
	for i, l := range bytes.SplitN(lines, []byte("\n"), 20) {
		var m map[string]any
		if json.Unmarshal(l, &m) == nil && i%3 == 0 {
			walk(nil, m)
		}
	}
	return event.NewProjection(paths)
}

// sameAlerts replays under every mode and decoder count and compares.
func sameAlerts(t *testing.T, rs []*rules.Rule, inputs map[string][]byte, seed uint64) int {
	t.Helper()
	rnd := rand.New(rand.NewPCG(seed, 17))
	want, wantErrs := replayAlerts(t, rs, inputs, decodeAll, 1, rnd)
	for _, mode := range []projMode{decodeRead, decodeStale} {
		for _, n := range []int{1, 3} {
			got, errs := replayAlerts(t, rs, inputs, mode, n, rnd)
			if len(got) != len(want) {
				t.Errorf("seed %d, decoding %s on %d decoders: %d alerts, %d decoding every field", seed, mode, n, len(got), len(want))
				continue
			}
			for i := range want {
				if got[i] != want[i] {
					t.Errorf("seed %d, decoding %s on %d decoders: alert %d differs:\n%s\nwant\n%s", seed, mode, n, i, got[i], want[i])
					break
				}
			}
			if fmt.Sprint(errs) != fmt.Sprint(wantErrs) {
				t.Errorf("seed %d, decoding %s on %d decoders: evaluation errors %v, want %v", seed, mode, n, errs, wantErrs)
			}
		}
	}
	return len(want)
}

func loadDir(t *testing.T, dir, lists, models string) []*rules.Rule {
	t.Helper()
	opts := rules.Options{}
	if lists != "" {
		l, err := reflist.Load(lists)
		if err != nil {
			t.Fatal(err)
		}
		opts.Lists = l
	}
	if models != "" {
		m, err := rules.LoadModels(models)
		if err != nil {
			t.Fatal(err)
		}
		opts.Models = m
	}
	c, err := rules.NewCompiler(opts)
	if err != nil {
		t.Fatal(err)
	}
	if models != "" {
		if _, errs := c.LoadOnlineModels(models); len(errs) > 0 {
			t.Fatal(errs)
		}
	}
	set := c.Load(dir)
	if len(set.Errors) > 0 {
		t.Fatal(set.Errors)
	}
	return set.Rules
}

// The fraud example's rules over generated traffic.
func TestProjectionKeepsFraudAlerts(t *testing.T) {
	rs := loadDir(t, "../../examples/fraud/rules", "../../examples/fraud/lists", "../../examples/fraud/models")
	total := 0
	for _, seed := range []uint64{3, 11} {
		bufs := map[string]*bytes.Buffer{}
		ws := map[string]io.Writer{}
		for _, s := range fraudgen.Streams {
			bufs[s] = &bytes.Buffer{}
			ws[s] = bufs[s]
		}
		cfg := fraudgen.Config{Seed: int64(seed), Events: 6000, Rate: 2, FraudRate: 0.05}
		if err := fraudgen.Write(ws, cfg); err != nil {
			t.Fatal(err)
		}
		inputs := map[string][]byte{}
		for s, b := range bufs {
			inputs[s] = b.Bytes()
		}
		total += sameAlerts(t, rs, inputs, seed)
	}
	if total < 20 {
		t.Errorf("only %d alerts: the comparison proves little", total)
	}
}

// Generated rules over generated events: conditions, keys, alert fields
// and sequence steps that read fields, nested members, presence, sizes,
// keys and whole events, in every mix.
func TestProjectionKeepsGeneratedAlerts(t *testing.T) {
	c, err := rules.NewCompiler(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for seed := uint64(1); seed <= 12; seed++ {
		rnd := rand.New(rand.NewPCG(seed, 5))
		var rs []*rules.Rule
		for i := range 6 {
			src := genRule(rnd, i)
			r, errs := c.CompileFile(fmt.Sprintf("g%d.yaml", i), []byte(src))
			if r == nil {
				t.Fatalf("generated rule does not compile: %v\n%s", errs, src)
			}
			rs = append(rs, r)
		}
		total += sameAlerts(t, rs, map[string][]byte{"s": genEvents(rnd, 400)}, seed)
	}
	if total < 200 {
		t.Errorf("only %d alerts: the comparison proves little", total)
	}
}

var genAtoms = []string{
	`event.s == "x"`, `event.n > 2.0`, `event.o.s.iequals("X")`, `event.o.p.q == 1`, `has(event.o.p.q)`, `has(event.o.r)`,
	`size(event.o) > 2`, `event.o.exists(k, k == "r")`, `keywords(event, ["needle"])`, `size(event) > 6`,
	`event[?"s"].orValue("") == "y"`, `"r" in event.o`, `event.a.exists(x, x == 2.0)`, `event.o.p.size() == 1`,
	`event.t.istartsWith("ab")`, `event.o.s.wildcard("x*")`, `event.z == null`, `has(event.m)`, `event.m.k == "v"`,
	`event.s in ["x", "y"]`, `event.b`, `event.o == {"s": "x"}`,
}

var genFields = []string{"event.s", "event.o", "event.o.p", "event.o.s", "event", "size(event.o)", "event.a", "event.m", "event.t"}

func genCond(rnd *rand.Rand, depth int) string {
	if depth == 0 || rnd.IntN(3) == 0 {
		return genAtoms[rnd.IntN(len(genAtoms))]
	}
	op := "&&"
	if rnd.IntN(2) == 0 {
		op = "||"
	}
	neg := ""
	if rnd.IntN(4) == 0 {
		neg = "!"
	}
	return fmt.Sprintf("%s(%s %s %s)", neg, genCond(rnd, depth-1), op, genCond(rnd, depth-1))
}

func genRule(rnd *rand.Rand, i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "id: g.%d\ntitle: generated %d\n", i, i)
	if rnd.IntN(2) == 0 {
		b.WriteString("missing_fields: false_if_missing\n")
	}
	key := []string{"event.k", "event.o.s", "event.m.k"}[rnd.IntN(3)]
	fmt.Fprintf(&b, "by: [%s]\n", key)
	if rnd.IntN(3) == 0 {
		fmt.Fprintf(&b, "sequence:\n  within: 1m\n  steps:\n    - name: a\n      where: %q\n    - name: b\n      where: %q\n",
			genCond(rnd, 1), genCond(rnd, 1)+` && event.o.s == a.o.s`)
		fmt.Fprintf(&b, "alert:\n  fields:\n    f1: a.o\n    f2: %s\n", strings.Replace(genFields[rnd.IntN(len(genFields))], "event", "b", 1))
		return b.String()
	}
	fmt.Fprintf(&b, "match: %q\n", genCond(rnd, 2))
	fmt.Fprintf(&b, "alert:\n  fields:\n    f1: %s\n    f2: %s\n", genFields[rnd.IntN(len(genFields))], genFields[rnd.IntN(len(genFields))])
	return b.String()
}

func genEvents(rnd *rand.Rand, n int) []byte {
	var b bytes.Buffer
	pick := func(vals ...string) string { return vals[rnd.IntN(len(vals))] }
	for i := range n {
		m := map[string]any{"id": fmt.Sprintf("e%d", i), "ts": 1_700_000_000 + i}
		maybe := func(k string, v any) {
			if rnd.IntN(4) != 0 {
				m[k] = v
			}
		}
		maybe("s", pick("x", "y", "z"))
		maybe("k", pick("k1", "k2"))
		maybe("n", rnd.IntN(5))
		maybe("b", rnd.IntN(2) == 0)
		maybe("t", pick("abc", "ABd", "x"))
		maybe("z", nil)
		maybe("a", []any{rnd.IntN(3), "needle"[:rnd.IntN(7)]})
		o := map[string]any{}
		if rnd.IntN(4) != 0 {
			o["s"] = pick("x", "X", "xy", "q")
		}
		if rnd.IntN(3) != 0 {
			o["p"] = map[string]any{"q": rnd.IntN(2)}
		}
		if rnd.IntN(3) == 0 {
			o["r"] = pick("needle", "hay")
		}
		maybe("o", o)
		maybe("m", pick(`v`, `{"k":"v"}`))
		if s, ok := m["m"].(string); ok && strings.HasPrefix(s, "{") {
			m["m"] = map[string]any{"k": "v"}
		}
		if rnd.IntN(10) == 0 {
			m["extra"] = map[string]any{"deep": []any{"needle"}}
		}
		line, err := json.Marshal(m)
		if err != nil {
			panic(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// sharedTestdata is the shared test data (SigmaHQ rules, OTRF recordings).
const sharedTestdata = "../../../shared/testdata"

// SigmaHQ's Windows rules, imported, over real Windows telemetry. The
// corpus's keyword rules read whole events, which would turn projection
// off for the stream; they are left out so that what is tested is the
// projection. A seeded sample keeps the test to seconds; CEP_SIGMA_SAMPLE
// sets how many in how many rules (default 4: one in four).
func TestProjectionKeepsSigmaAlerts(t *testing.T) {
	if testing.Short() {
		t.Skip("imports and loads hundreds of rules")
	}
	if _, err := os.Stat(sharedTestdata); err != nil {
		if os.Getenv("CEP_REQUIRE_SHARED") == "1" {
			t.Fatalf("shared test data not found at %s (CEP_REQUIRE_SHARED=1): %v", sharedTestdata, err)
		}
		t.Skipf("shared test data not found at %s; set CEP_REQUIRE_SHARED=1 to make this a failure", sharedTestdata)
	}
	m, err := mapping.Load("windows-raw")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	rep := sigma.Import([]string{filepath.Join(sharedTestdata, "sigma", "rules", "windows")}, sigma.Options{Mapping: m})
	every := 4
	if v := os.Getenv("CEP_SIGMA_SAMPLE"); v != "" {
		fmt.Sscan(v, &every)
	}
	rnd := rand.New(rand.NewPCG(7, 7))
	n := 0
	for _, im := range rep.Imported {
		if bytes.Contains(im.Text, []byte("keywords")) || rnd.IntN(every) != 0 {
			continue
		}
		p := filepath.Join(out, im.Out)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, im.Text, 0o644); err != nil {
			t.Fatal(err)
		}
		n++
	}
	rs := loadDir(t, out, "", "")
	if len(rs) != n || n < 100 {
		t.Fatalf("%d rules loaded of %d", len(rs), n)
	}
	if rules.Projection(rs, "windows") == nil {
		t.Fatal("the sample reads whole events: nothing to test")
	}
	var all bytes.Buffer
	zips, _ := filepath.Glob(filepath.Join(sharedTestdata, "otrf", "*.zip"))
	for _, z := range zips {
		zr, err := zip.OpenReader(z)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range zr.File {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(&all, rc); err != nil {
				t.Fatal(err)
			}
			rc.Close()
		}
		zr.Close()
	}
	if all.Len() < 1<<20 {
		t.Fatalf("%d bytes of telemetry", all.Len())
	}
	alerts := sameAlerts(t, rs, map[string][]byte{"windows": all.Bytes()}, 1)
	t.Logf("%d rules, %d alerts", len(rs), alerts)
	if alerts == 0 {
		t.Error("no alert: the comparison proves little")
	}
}
