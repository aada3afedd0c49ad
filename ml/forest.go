package ml

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
// cut. A split's children are at kids and kids+1; x[feat] < cut goes to
// kids+rev, otherwise to kids+1-rev, computed without a branch because the
// direction is unpredictable.
type forestNode struct {
	cut  float64
	feat int32
	kids int32
	rev  int32
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
		base := int32(len(f.nodes))
		for _, n := range t.flat {
			fn := forestNode{feat: -1, cut: n.score}
			if n.kids >= 0 {
				if !n.split {
					return nil
				}
				k, ok := feat[int(n.slot)]
				if !ok {
					k = int32(len(f.slots))
					feat[int(n.slot)] = k
					f.slots = append(f.slots, int(n.slot))
				}
				fn = forestNode{feat: k, cut: n.cut, kids: base + n.kids}
				if n.reversed {
					fn.rev = 1
				}
			} else if !n.hasScore {
				return nil
			}
			f.nodes = append(f.nodes, fn)
		}
		f.roots = append(f.roots, base)
	}
	return f
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
				var high int32
				if x[nd.feat] >= nd.cut {
					high = 1
				}
				cur[j] = nd.kids + (high ^ nd.rev)
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
