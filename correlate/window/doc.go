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
// Per event the engine calls Add. For sliding and length windows Add returns
// the key's window as it is at that event (a *Current); the engine evaluates
// `having` on Current.Values and passes the outcome to Current.Fire, which
// answers whether to alert: true when `having` turns true, and again only
// after it has been false (or the key's window has emptied).
//
// Per watermark the engine calls Advance. Tumbling, hopping and session
// windows whose end is at or before the watermark close and come out as
// Results in a deterministic order (window end, window start, key), each
// followed, once per window, by the top-N Report when the rule asks for one.
// In LateCorrect mode a late event that lands in a window already emitted
// makes the next Advance emit a correction: a Result whose Corrects names the
// results it supersedes.
package window
