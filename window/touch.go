package window

// Touch reads ahead the windows of keys, and returns something of them
// for the caller to keep so that the reads are not compiled away. With
// many keys each event's windows are a few cache misses that Add takes
// one at a time: the map's slot and the key's bytes, the key's state, the
// ring of a sliding or length window, the panes of a tumbling or hopping
// one or its sessions, and the newest event of its evidence, which the
// event is compared with. Touch takes them for a batch of events in
// phases, a phase's reads independent of one another, so that their
// misses overlap.
func (a *Aggregator) Touch(keys [][]byte) uintptr {
	if len(a.keys) == 0 {
		return 0
	}
	var t uintptr
	sts := a.touched[:0]
	for _, k := range keys {
		if ks, ok := a.keys[string(k)]; ok {
			sts = append(sts, ks)
		}
	}
	for _, ks := range sts {
		switch k := ks.(type) {
		case *slideKey:
			t += uintptr(k.q.head) + uintptr(k.newest)
		case *paneKey:
			t += uintptr(len(k.panes)) + uintptr(k.done)
		case *sessKey:
			t += uintptr(len(k.sess))
		}
	}
	evs := a.touchedEv[:0]
	for _, ks := range sts {
		var ev evidence
		switch k := ks.(type) {
		case *slideKey:
			if k.q.n > 0 {
				t += uintptr(k.q.time(0))
			}
			ev = k.ev
		case *paneKey:
			if n := len(k.panes); n > 0 {
				p := &k.panes[n-1]
				t += uintptr(p.start)
				if s := p.acc.sets; len(s) > 0 {
					t += uintptr(len(s[0].exact.slots))
				}
				ev = p.acc.ev
			}
		case *sessKey:
			if n := len(k.sess); n > 0 {
				t += uintptr(k.sess[n-1].last)
				ev = k.sess[n-1].acc.ev
			}
		}
		if n := len(ev); n > 0 {
			evs = append(evs, ev[n-1])
		}
	}
	for _, ev := range evs {
		t += uintptr(ev.Time)
	}
	clear(sts)
	clear(evs)
	a.touched, a.touchedEv = sts[:0], evs[:0]
	return t
}
