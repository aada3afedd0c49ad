package ml

import "math"

// forest is an ensemble of regression trees laid out for speed: every tree
// in one array of small nodes over a dense feature vector, walked several
// trees at a time so that the processor overlaps their memory loads. It
// serves gradient-boosting and random-forest regressions whose splits are
// all numeric thresholds; anything else takes the general path.
type forest struct {
	slots []int // slot of each feature, checked once per score
	nodes []forestNode
	roots []int32
}

// forestNode is a split (feat >= 0) or a leaf (feat < 0) whose score is
// cut. A split sends x[feat] < cut to next[0] and the rest to next[1],
// chosen by index rather than by a branch because the direction is
// unpredictable.
type forestNode struct {
	cut  float64
	feat int32
	next [2]int32
}

// lanes is how many trees are walked together.
const lanes = 8

func buildForest(segs []segment) *forest {
	f := &forest{}
	feat := map[int]int32{}
	for i := range segs {
		t := segs[i].quick
		if t == nil {
			return nil
		}
		root, ok := f.add(t, t.root, feat)
		if !ok {
			return nil
		}
		f.roots = append(f.roots, root)
	}
	return f
}

func (f *forest) feature(slot int, feat map[int]int32) int32 {
	k, ok := feat[slot]
	if !ok {
		k = int32(len(f.slots))
		feat[slot] = k
		f.slots = append(f.slots, slot)
	}
	return k
}

// cutOf turns a comparison into the cut of "x < cut": x <= t is
// x < nextafter(t).
func cutOf(t float64, inclusive bool) float64 {
	if inclusive {
		return math.Nextafter(t, math.Inf(1))
	}
	return t
}

// add lays out the subtree at n and returns its index; ok is false when it
// holds anything but numeric splits and scored leaves. A node with a single
// comparison child under returnLastPrediction, as compact LightGBM and
// XGBoost exports write, becomes a split whose other side is the node's own
// score.
func (f *forest) add(t *treeModel, n *treeNode, feat map[int]int32) (int32, bool) {
	idx := int32(len(f.nodes))
	f.nodes = append(f.nodes, forestNode{feat: -1, cut: n.num})
	if len(n.children) == 0 {
		return idx, n.hasScore
	}
	var fn forestNode
	var low, high *treeNode
	switch {
	case n.split != nil:
		sp := n.split
		fn = forestNode{feat: f.feature(sp.slot, feat), cut: cutOf(sp.threshold, sp.inclusive)}
		low, high = n.children[0], n.children[1]
		if sp.reversed {
			low, high = high, low
		}
	case len(n.children) == 1 && t.noTrueLast && n.hasScore:
		p := n.children[0].pred
		if p.kind != predSimple || !p.numeric {
			return 0, false
		}
		fn = forestNode{feat: f.feature(p.slot, feat)}
		switch p.op {
		case opLess, opLessEq:
			fn.cut = cutOf(p.num, p.op == opLessEq)
			low = n.children[0]
		case opGreaterEq, opGreater:
			fn.cut = cutOf(p.num, p.op == opGreater)
			high = n.children[0]
		default:
			return 0, false
		}
	default:
		return 0, false
	}
	for side, child := range []*treeNode{low, high} {
		if child == nil {
			// The side the predicate rejects ends at this node's score.
			fn.next[side] = int32(len(f.nodes))
			f.nodes = append(f.nodes, forestNode{feat: -1, cut: n.num})
			continue
		}
		k, ok := f.add(t, child, feat)
		if !ok {
			return 0, false
		}
		fn.next[side] = k
	}
	f.nodes[idx] = fn
	return idx, true
}

// scores writes each tree's score to out; ok is false when a feature is not
// a present number, and the caller takes the general path.
func (f *forest) scores(s *Scorer, x, out []float64) bool {
	for k, slot := range f.slots {
		v := s.get(slot)
		if v.kind != KindNumber {
			return false
		}
		x[k] = v.num
	}
	nodes := f.nodes
	for g := 0; g < len(f.roots); g += lanes {
		n := min(lanes, len(f.roots)-g)
		var cur [lanes]int32
		copy(cur[:n], f.roots[g:g+n])
		for {
			active := false
			for j := 0; j < n; j++ {
				nd := &nodes[cur[j]]
				if nd.feat < 0 {
					continue
				}
				active = true
				var side int
				if x[nd.feat] >= nd.cut {
					side = 1
				}
				cur[j] = nd.next[side]
			}
			if !active {
				break
			}
		}
		for j := 0; j < n; j++ {
			out[g+j] = nodes[cur[j]].cut
		}
	}
	return true
}
