// Package window holds the state machines behind `aggregate:` rules:
// tumbling, hopping, sliding, length and session windows per key, their
// measures, top-N reports and late-data corrections.
//
// The package knows no CEL and no clock. The rule compiler evaluates the
// `where`, key and measure-argument expressions and hands an Aggregator plain
// values; the engine feeds each key's events in event-time order with Add,
// moves event time forward with Advance, and evaluates `having` on what comes
// back. Everything that depends on time takes the time as an argument, so
// the same input always yields the same results in the same order.
//
// Per event the engine calls Add with one Arg per measure. For sliding and
// length windows Add returns the key's window as it is at that event (a
// *Current); the engine evaluates `having` on Current.Values and passes the
// outcome to Current.Fire, which answers whether to alert: true when
// `having` turns true, and again only after it has been false, or after the
// key's window has emptied: a key that starts over is armed again, so that
// alerts do not depend on how often the engine calls Advance. Current.Result gives the alert's window and evidence.
// A Status other than Applied is an event to log; it is also counted in
// Stats.
//
// Per watermark the engine calls Advance. Tumbling and hopping windows whose
// end is at or before the watermark close, and sessions whose end is before
// it (an event at a session's end would still extend it, and the watermark
// lets events at its own time through); they come out as Results in a
// deterministic order (window end, window start, key), each
// window's results followed by its top-N Report when the rule asks for one.
// The engine evaluates `having` on each Result; the alert time is its End.
// At the end of a bounded replay, Advance with the largest time closes
// everything.
//
// Late events. Lateness is judged per window, as in Flink: the engine hands
// Add every event, those behind the watermark included, and an event counts
// in each of its windows that has not closed (window end, plus
// AllowedLateness in LateCorrect mode, not yet passed by the watermark), in
// any order within a key. A session takes a late event while the session it
// lands in is open, its own included, as in Flink (a session of the key that
// closed before may have been the one it belonged to; it was forgotten, so
// nobody can tell). Sliding and length windows are evaluated at each event in the key's
// order, so for them an event older than the key's newest is late. In
// LateCount mode (the default) an event whose window was already emitted is
// reported Late and counted, and emitted results stand.
// In LateCorrect mode emitted windows stay correctable until their end plus
// AllowedLateness: a late event updates them (Add reports Corrected) and the
// next Advance emits a correction, a Result with Revision > 0 whose Corrects
// are the results it supersedes, exactly as they were emitted. The engine
// evaluates `having` on the corrected values and, for each superseded result
// that had alerted (its `having` is a pure function of its Values), derives
// that alert's id from it to fill the new alert's `corrects:`.
//
// State is per key and goes when the key's last window closes (or, for
// LateCorrect, can no longer be corrected). Its memory is bounded:
//
//   - Config.MaxKeys: an event of a new key beyond it is dropped
//     (DroppedKey, Stats.DroppedKeys).
//   - Config.MaxWindowsPerKey: an event that would open a pane or session
//     beyond it is dropped (DroppedWindow, Stats.DroppedWindows).
//   - Config.MaxEventsPerKey: an event beyond it in a key's sliding or
//     length window is dropped (DroppedEvent, Stats.DroppedEvents).
//   - Config.MaxDistinct: a count_distinct keeps at most that many values
//     per key and pane, session or sliding window; a new value beyond it
//     is not counted (the event is, in its other measures), so the measure
//     reads a lower bound (Stats.DroppedDistinct).
//   - Config.Evidence: the events a window keeps as evidence.
//   - Bytes estimates the memory of all state (windows, measures, kept
//     results and evidence events; per key with KeyBytes), kept up to date
//     as keys change; Shed drops whole keys, oldest first, until it is
//     under a target, losing their open windows (Stats.ShedKeys,
//     Stats.ShedBytes). The engine holds detectors to its memory budget
//     with them.
//
// MarshalBinary and UnmarshalBinary snapshot an aggregator.
package window
