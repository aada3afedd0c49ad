package correlate

import "github.com/cep-project/cep/event"

// Screens returns what makes, for one decoding goroutine and one stream,
// the screen of the stream's events (see event.Screen): the fields the
// router indexes the stream's rules by, and the router's answer on them.
// An event it turns away reaches no detector, and nothing on the engine
// reads it beyond its time and id, so it need not be decoded further; its
// Prepared says so, and the engine does not route it again. It
// is nil when the router hands every event to every rule (explaining).
// A stream whose every event some rule sees (a rule that is not indexed,
// such as a sequence keyed by user, or an online model that learns from
// the stream's labels) is not screened: its screen, when its rules keep
// nothing of its events (keepPlan), only releases them, and it has none
// otherwise. The functions may run concurrently with the engine and with
// each other.
func (e *Engine) Screens() func(stream string) *event.Screen {
	idx, unscreened := e.router.idx, e.unscreened
	if idx.all {
		return nil
	}
	// Online models learn from every event of their label streams.
	learns := map[string]bool{}
	for stream := range e.feedback {
		learns[stream] = true
	}
	// A stream whose every rule keeps nothing of its events (keepPlan)
	// has them released once dispatched, whether a rule took them or
	// not (see dispatch): they may be decoded into the decoders' slabs.
	dets, mayKeep := e.dets, e.mayKeep
	releases := func(stream string) bool {
		if mayKeep == nil || learns[stream] {
			return false
		}
		for i, d := range dets {
			if mayKeep[i] && d.rule().ReadsStream(stream) {
				return false
			}
		}
		return true
	}
	return func(stream string) *event.Screen {
		sr := idx.stream(stream)
		if len(sr.always) > 0 || learns[stream] {
			if releases(stream) {
				// Every event reaches a rule: nothing to screen, but
				// the events go into the slabs all the same.
				return &event.Screen{Releases: true}
			}
			return nil
		}
		// A stream no rule reads has no paths: its events are screened
		// with their time and id alone, and reach nothing.
		paths := make([][]string, len(sr.paths))
		for i := range sr.paths {
			paths[i] = sr.paths[i].path
		}
		rt := newRouter(idx)
		return &event.Screen{
			Project:  event.NewProjection(paths),
			Releases: releases(stream),
			Pass: func(ev *event.Event) bool {
				if len(rt.route(ev)) > 0 {
					return true
				}
				// The engine need not ask the router again.
				ev.Prepared = unscreened
				return false
			},
		}
	}
}
