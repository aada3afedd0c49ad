package correlate

import (
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules"
	"github.com/cep-project/cep/rules/celenv"
)

// router finds the detectors an event must reach. Detectors are chosen by
// stream; rules whose condition implies constraints on a field (event.type
// == "auth", event.Image.iendsWith("\\reg.exe"), EventID in [1, 4688]) are
// indexed by one of them, so an event is tested only against rules it
// could match. A field's value is looked up once per kind of test: its
// exact value, its text, its fold key (without case), and the prefixes
// and suffixes of those of every length some rule's literal has.
// Throughput then depends on how many rules share an event's values, not
// on how many rules there are.
type router struct {
	idx *routeIndex
	// last is the route of the stream routed last: a stream's events
	// share its name, and come in runs, so one comparison of addresses
	// finds it as a rule (a lookup in streams was 0.6% of the 1,000-rule
	// filter scenario's CPU).
	last struct {
		stream string
		sr     *streamRoute
	}
	scratch []int
	keyBuf  []byte
	textBuf []byte
	foldBuf []byte
	met     []bool      // by path, in scanRoutes
	val     event.Value // valueAt's value of a path it could not point into
}

// routeIndex holds the routes of streams, built on a stream's first event
// and never changed after, so that routers on several goroutines share
// them: the decoders' preparers each built and held their own copy of
// every table, three copies of a megabyte at 10,000 rules competing for
// the same cache.
type routeIndex struct {
	dets []detector
	// all disables the index, so that --explain shows every rule of the
	// stream deciding, not only those the index let through.
	all bool
	// only, when set, limits the index to the detectors it marks.
	only []bool
	mu   sync.Mutex // held while a stream's route is built
	// streams is replaced, never changed, when a route is added.
	streams atomic.Pointer[map[string]*streamRoute]
}

func newRouteIndex(dets []detector, only []bool, all bool) *routeIndex {
	return &routeIndex{dets: dets, only: only, all: all}
}

// stream returns the route of a stream, building it on first use.
func (ix *routeIndex) stream(name string) *streamRoute {
	if m := ix.streams.Load(); m != nil {
		if sr, ok := (*m)[name]; ok {
			return sr
		}
	}
	ix.mu.Lock()
	defer ix.mu.Unlock()
	var m map[string]*streamRoute
	if p := ix.streams.Load(); p != nil {
		if sr, ok := (*p)[name]; ok {
			return sr
		}
		m = maps.Clone(*p)
	} else {
		m = map[string]*streamRoute{}
	}
	sr := ix.build(name)
	m[name] = sr
	ix.streams.Store(&m)
	return sr
}

// streamsOf builds, under one lock and into one new map, the routes of
// those of streams not built yet: stream clones the map for each.
func (ix *routeIndex) streamsOf(streams []string) {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	m := map[string]*streamRoute{}
	if p := ix.streams.Load(); p != nil {
		m = maps.Clone(*p)
	}
	for _, s := range streams {
		if _, ok := m[s]; !ok {
			m[s] = ix.build(s)
		}
	}
	ix.streams.Store(&m)
}

// streamRoute is the routing of one stream, built on its first event, or
// when the engine is made for the streams rules name.
type streamRoute struct {
	always []int // detectors that see every event of the stream
	paths  []indexPath
	// top finds, by name, the paths of one top-level member, and
	// nested lists the others: an event decoded whole (no projection,
	// as when a rule reads the whole event) is routed in one pass over
	// its members (see scanRoutes).
	top    map[string]int
	nested []int
}

// minScanned is the fewest top-level paths for which an event decoded
// whole is routed in one pass over its members rather than by a lookup
// of each path: SigmaHQ's Windows rules index some fifty fields, and a
// Windows event has some forty, so a lookup of each compared a few
// thousand names.
const minScanned = 8

// indexPath holds the rules indexed by one field.
type indexPath struct {
	path    []string
	buckets keyTable // by exact value (rules.AppendValueKey)
	// By text, with case (cased) and by fold key (folded).
	cased, folded textIndex
}

// textIndex finds rules by the text of a field: equal to, starting with
// or ending with a literal.
type textIndex struct {
	equal    keyTable
	prefixes affixes
	suffixes affixes
}

// affixes holds literals by length: a text is looked up once per length.
type affixes struct {
	lens []int
	by   keyTable
}

func (ti *textIndex) empty() bool {
	return ti.equal.empty() && ti.prefixes.by.empty() && ti.suffixes.by.empty()
}

// lookup appends the rules the text t meets.
func (ti *textIndex) lookup(out []int, t []byte) []int {
	out = ti.equal.lookup(out, t)
	for _, n := range ti.prefixes.lens {
		if n > len(t) {
			break
		}
		out = ti.prefixes.by.lookup(out, t[:n])
	}
	for _, n := range ti.suffixes.lens {
		if n > len(t) {
			break
		}
		out = ti.suffixes.by.lookup(out, t[len(t)-n:])
	}
	return out
}

// pathLists is an indexPath being built: its lists by key, which build
// freezes into keyTables once every rule is filed.
type pathLists struct {
	buckets       map[string][]int
	cased, folded textLists
}

// textLists is a textIndex being built.
type textLists struct {
	equal, prefixes, suffixes map[string][]int
}

// file adds det to the list under key, once.
func file(m *map[string][]int, key string, det int) {
	if *m == nil {
		*m = map[string][]int{}
	}
	if l := (*m)[key]; len(l) == 0 || l[len(l)-1] != det {
		(*m)[key] = append(l, det)
	}
}

func (tl *textLists) add(m rules.TextMatch, det int) {
	switch m.Kind {
	case rules.TextEqual:
		file(&tl.equal, m.Text, det)
	case rules.TextPrefix:
		file(&tl.prefixes, m.Text, det)
	case rules.TextSuffix:
		file(&tl.suffixes, m.Text, det)
	}
}

func (tl *textLists) freeze() textIndex {
	return textIndex{
		equal:    newKeyTable(tl.equal),
		prefixes: freezeAffixes(tl.prefixes),
		suffixes: freezeAffixes(tl.suffixes),
	}
}

func freezeAffixes(m map[string][]int) affixes {
	var a affixes
	for lit := range m {
		if !slices.Contains(a.lens, len(lit)) {
			a.lens = append(a.lens, len(lit))
		}
	}
	slices.Sort(a.lens)
	a.by = newKeyTable(m)
	return a
}

func newRouter(idx *routeIndex) *router {
	return &router{idx: idx}
}

// route returns the indexes of the detectors that ev may concern, in
// detector order, which is rule load order: alerts of one event come out in
// a deterministic order.
func (r *router) route(ev *event.Event) []int {
	sr := r.last.sr
	if sr == nil || ev.Stream != r.last.stream {
		sr = r.idx.stream(ev.Stream)
		r.last.stream, r.last.sr = ev.Stream, sr
	}
	if len(sr.paths) == 0 {
		return sr.always
	}
	out := append(r.scratch[:0], sr.always...)
	if sr.top != nil && !ev.Projected() {
		out = r.scanRoutes(out, sr, ev)
	} else {
		for i := range sr.paths {
			p := &sr.paths[i]
			if v := r.valueAt(ev, p.path); v != nil {
				out = r.meet(out, p, v)
			}
		}
	}
	if len(out) > len(sr.always) {
		// A rule indexed by several tests of one field may be found by
		// more than one.
		slices.Sort(out)
		out = slices.Compact(out)
	}
	r.scratch = out
	return out
}

// scanRoutes is route's lookup of sr's paths in an event decoded whole:
// one pass over its members, from the last, since of members of one name
// the last counts (event.ValueAt), then the nested paths one by one.
func (r *router) scanRoutes(out []int, sr *streamRoute, ev *event.Event) []int {
	if cap(r.met) < len(sr.paths) {
		r.met = make([]bool, len(sr.paths))
	}
	met := r.met[:len(sr.paths)]
	clear(met)
	for i := len(ev.Fields) - 1; i >= 0; i-- {
		f := &ev.Fields[i]
		pi, ok := sr.top[f.Key]
		if !ok || met[pi] {
			continue
		}
		met[pi] = true
		out = r.meet(out, &sr.paths[pi], &f.Value)
	}
	for _, pi := range sr.nested {
		p := &sr.paths[pi]
		if v, ok := ev.Path(p.path...); ok {
			out = r.meet(out, p, &v)
		}
	}
	return out
}

// valueAt is ev.Path(path...), the value in place when the path is a
// top-level member of a projected event: returned by value, it was copied
// sixteen bytes at a time out of the eight-byte stores the decoder had
// just written, loads the processor cannot forward from its store buffer.
// Any other path's value is in r.val until the next call.
func (r *router) valueAt(ev *event.Event, path []string) *event.Value {
	if len(path) == 1 && ev.Projected() {
		if v := event.ValueAt(ev.Fields, path[0]); v != nil && !v.Partial() {
			return v
		}
	}
	v, ok := ev.Path(path...)
	if !ok {
		return nil
	}
	r.val = v
	return &r.val
}

// meet appends the rules indexed by p that the value v of its field
// meets.
func (r *router) meet(out []int, p *indexPath, v *event.Value) []int {
	var ok bool
	if !p.buckets.empty() {
		if v.Kind() != event.String || !p.buckets.endsUnlike(v.Str()) {
			if r.keyBuf, ok = rules.AppendValueKey(r.keyBuf[:0], v); ok {
				out = p.buckets.lookup(out, r.keyBuf)
			}
		}
	}
	if p.cased.empty() && p.folded.empty() {
		return out
	}
	if r.textBuf, ok = rules.AppendText(r.textBuf[:0], v); !ok {
		return out
	}
	out = p.cased.lookup(out, r.textBuf)
	if !p.folded.empty() {
		r.foldBuf = celenv.AppendFoldBytes(r.foldBuf[:0], r.textBuf)
		out = p.folded.lookup(out, r.foldBuf)
	}
	return out
}

// keyOf names a test of a field for counting how many rules share it.
func keyOf(path []string, kind byte, key string) string {
	return string(append(append(event.AppendPathKey(nil, path), kind), key...))
}

func (c *indexed) keys() []string {
	var ks []string
	for _, v := range c.con.Values {
		// A lenient rule's number is indexed as the number and as its
		// text (n:4688, s:4688): one value, counted once. Counted twice,
		// EventID in [1, 4688] looked twice as common as it is, and a
		// thousand process-creation rules went under their channel,
		// which nearly every event has.
		if text, ok := strings.CutPrefix(v, "s:"); ok && slices.Contains(c.con.Values, "n:"+text) {
			continue
		}
		ks = append(ks, keyOf(c.con.Path, 'v', v))
	}
	for _, m := range c.con.Text {
		kind := "=<>"[m.Kind]
		if m.Fold {
			kind = "~[]"[m.Kind]
		}
		ks = append(ks, keyOf(c.con.Path, kind, m.Text))
	}
	return ks
}

type indexed struct {
	det int
	con rules.Constraint
}

// build indexes the detectors of one stream. Each indexed rule goes under
// the constraint whose tests are shared by the fewest other rules, so a
// field every rule tests (event.type, Channel) loses to one that tells
// rules apart (event.merchant, Image).
func (ix *routeIndex) build(stream string) *streamRoute {
	sr := &streamRoute{}
	type cand struct {
		det  int
		cons []rules.Constraint
		keys [][]string // by constraint
	}
	var cands []cand
	count := map[string]int{}
	for i, d := range ix.dets {
		if ix.only != nil && !ix.only[i] {
			continue
		}
		if !d.rule().ReadsStream(stream) {
			continue
		}
		cons := d.constraints()
		if len(cons) == 0 || ix.all {
			sr.always = append(sr.always, i)
			continue
		}
		c := cand{i, cons, make([][]string, len(cons))}
		for j, con := range cons {
			c.keys[j] = (&indexed{i, con}).keys()
			for _, k := range c.keys[j] {
				count[k]++
			}
		}
		cands = append(cands, c)
	}
	// Choose first, then file each rule under its choice, and freeze the
	// lists into tables laid out for lookups (see keyTable).
	type placed struct {
		det, path int
		con       rules.Constraint
	}
	var places []placed
	byPath := map[string]int{}
	for _, c := range cands {
		best, bestCost := 0, -1
		for j, ks := range c.keys {
			cost := 0
			for _, k := range ks {
				cost += count[k]
			}
			if bestCost < 0 || cost < bestCost {
				best, bestCost = j, cost
			}
		}
		con := c.cons[best]
		pk := string(event.AppendPathKey(nil, con.Path))
		pi, ok := byPath[pk]
		if !ok {
			pi = len(sr.paths)
			byPath[pk] = pi
			sr.paths = append(sr.paths, indexPath{path: event.SharedPath(con.Path)})
		}
		places = append(places, placed{c.det, pi, con})
	}
	lists := make([]pathLists, len(sr.paths))
	for _, pl := range places {
		l := &lists[pl.path]
		for _, v := range pl.con.Values {
			file(&l.buckets, v, pl.det)
		}
		for _, m := range pl.con.Text {
			if m.Fold {
				l.folded.add(m, pl.det)
			} else {
				l.cased.add(m, pl.det)
			}
		}
	}
	for i := range lists {
		p := &sr.paths[i]
		p.buckets = newKeyTable(lists[i].buckets)
		p.cased, p.folded = lists[i].cased.freeze(), lists[i].folded.freeze()
	}
	top := map[string]int{}
	var nested []int
	for i, p := range sr.paths {
		if len(p.path) == 1 {
			top[p.path[0]] = i
		} else {
			nested = append(nested, i)
		}
	}
	if len(top) >= minScanned {
		sr.top, sr.nested = top, nested
	}
	return sr
}
