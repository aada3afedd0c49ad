package correlate

import (
	"slices"
	"strings"

	"github.com/cep-project/cep/event"
	"github.com/cep-project/cep/rules"
)

// router finds the detectors an event must reach. Detectors are chosen by
// stream; rules whose condition implies equality constraints (event.type ==
// "auth") are indexed by one of them, so an event is tested only against
// rules it could match. Throughput then depends on how many rules share an
// event's values, not on how many rules there are.
type router struct {
	dets   []detector
	keyBuf []byte
	// all disables the index, so that --explain shows every rule of the
	// stream deciding, not only those the index let through.
	all     bool
	streams map[string]*streamRoute
	scratch []int
}

// streamRoute is the routing of one stream, built on its first event.
type streamRoute struct {
	always []int // detectors that see every event of the stream
	paths  []indexPath
}

type indexPath struct {
	path    []string
	buckets map[string][]int
}

func newRouter(dets []detector) *router {
	return &router{dets: dets, streams: map[string]*streamRoute{}}
}

// route returns the indexes of the detectors that ev may concern, in
// detector order, which is rule load order: alerts of one event come out in
// a deterministic order.
func (r *router) route(ev *event.Event) []int {
	sr, ok := r.streams[ev.Stream]
	if !ok {
		sr = r.build(ev.Stream)
		r.streams[ev.Stream] = sr
	}
	if len(sr.paths) == 0 {
		return sr.always
	}
	out := append(r.scratch[:0], sr.always...)
	for i := range sr.paths {
		p := &sr.paths[i]
		v, ok := ev.Path(p.path...)
		if !ok {
			continue
		}
		r.keyBuf, ok = rules.AppendValueKey(r.keyBuf[:0], v)
		if !ok {
			continue
		}
		out = append(out, p.buckets[string(r.keyBuf)]...)
	}
	if len(out) > len(sr.always) {
		slices.Sort(out)
	}
	r.scratch = out
	return out
}

// build indexes the detectors of one stream. Each indexed rule goes under
// the constraint whose values are shared by the fewest other rules, so a
// field every rule tests (event.type) loses to one that tells rules apart
// (event.merchant).
func (r *router) build(stream string) *streamRoute {
	sr := &streamRoute{}
	type cand struct {
		det  int
		cons []rules.Constraint
	}
	var cands []cand
	count := map[string]int{}
	for i, d := range r.dets {
		if !d.rule().ReadsStream(stream) {
			continue
		}
		cons := d.constraints()
		if len(cons) == 0 || r.all {
			sr.always = append(sr.always, i)
			continue
		}
		cands = append(cands, cand{i, cons})
		for _, c := range cons {
			for _, v := range c.Values {
				count[pathKey(c.Path)+"\x00"+v]++
			}
		}
	}
	byPath := map[string]int{}
	for _, c := range cands {
		best, bestCost := 0, -1
		for j, con := range c.cons {
			cost := 0
			for _, v := range con.Values {
				cost += count[pathKey(con.Path)+"\x00"+v]
			}
			if bestCost < 0 || cost < bestCost {
				best, bestCost = j, cost
			}
		}
		con := c.cons[best]
		pk := pathKey(con.Path)
		pi, ok := byPath[pk]
		if !ok {
			pi = len(sr.paths)
			byPath[pk] = pi
			sr.paths = append(sr.paths, indexPath{path: con.Path, buckets: map[string][]int{}})
		}
		for _, v := range dedupStrings(con.Values) {
			sr.paths[pi].buckets[v] = append(sr.paths[pi].buckets[v], c.det)
		}
	}
	return sr
}

func pathKey(p []string) string { return strings.Join(p, "\x00") }

func dedupStrings(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}
