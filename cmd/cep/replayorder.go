package main

import (
	"context"
	"sync"
	"time"

	"github.com/cep-project/cep/correlate"
	"github.com/cep-project/cep/source"
)

// mergeable reports whether a replay of files can merge them as they are
// and process its events in the order sorting them would give: each file
// in event-time order within the allowed lateness, so that no event comes
// after the watermark; and, with the future check on, none far enough
// ahead of the events before it, in its file or in any, to be held back
// as a jump (the check judges an event by those that came before it, and
// a merge and a sort would put different ones there). It then spares the
// replay holding every event at once: the fraud example's 1M events took
// 1.3 GB and 9 s sorted, 0.35 GB and 6 s merged, with the same alerts.
// Reading the files for their times costs a fraction of that. Any file
// out of order, or unreadable, and the replay sorts.
func (a *app) mergeable(ctx context.Context, files []*source.File, lateness, maxFuture time.Duration) bool {
	if maxFuture == 0 {
		maxFuture = correlate.DefaultMaxFuture
	}
	// A jump of half the future limit within a file cannot reach the
	// limit in either order (for the first events of files, see below).
	ahead := time.Duration(0)
	if maxFuture > 0 {
		if ahead = maxFuture / 2; lateness >= ahead {
			return false
		}
	}
	scans := make([]source.OrderScan, len(files))
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Go(func() { scans[i], errs[i] = f.ScanOrder(ctx, lateness, ahead) })
	}
	wg.Wait()
	first := int64(0)
	some := false
	for i, sc := range scans {
		switch {
		case errs[i] != nil:
			a.log.Info("replay sorts its inputs: reading one for its order failed", "input", files[i].Path, "error", errs[i])
			return false
		case !sc.InOrder:
			a.log.Info("replay sorts its inputs: one is not in event-time order", "input", files[i].Path, "line", sc.Line, "why", sc.Why, "allowed_lateness", lateness)
			return false
		case sc.Events > 0 && (!some || sc.First < first):
			first, some = sc.First, true
		}
	}
	if ahead == 0 {
		a.log.Debug("replay merges its inputs as they are: each is in event-time order", "inputs", len(files))
		return true
	}
	// A file's first event is judged against the events before it: the
	// newest of its stream, or of any stream while its stream has had
	// none. In a merge as in a sort, every event more than the lateness
	// before it comes first. So a file that begins within half the limit
	// of the earliest has nothing far behind it; nor has one whose
	// stream has an event, in another file, up to half the limit before
	// its first event; nor, when no other file of its stream begins
	// before it, one with such an event in any file. Day-long files of a
	// day each follow one another so.
	for i, x := range scans {
		if x.Events == 0 || x.First <= first+int64(ahead) {
			continue
		}
		from, to := x.First-int64(ahead), x.First-2*int64(lateness)
		var sameCovers, anyCovers, sameBefore bool
		for j, z := range scans {
			if j == i || z.Events == 0 {
				continue
			}
			c := z.Covers(from, to, ahead)
			anyCovers = anyCovers || c
			if files[j].Spec.Stream == files[i].Spec.Stream {
				sameCovers = sameCovers || c
				sameBefore = sameBefore || z.First < x.First+2*int64(lateness)
			}
		}
		if !sameCovers && (sameBefore || !anyCovers) {
			a.log.Info("replay sorts its inputs: one begins after a gap in event time that the future check would judge", "input", files[i].Path, "max_future", maxFuture)
			return false
		}
	}
	a.log.Debug("replay merges its inputs as they are: each is in event-time order", "inputs", len(files))
	return true
}
