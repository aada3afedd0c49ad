// Package nfa is cep's sequence matcher: a pattern of steps compiled into a
// non-deterministic automaton and run per partition key in event time. It
// knows guards as Go functions, not CEL; the rule compiler wraps CEL programs
// into Guards, and the engine feeds events and watermarks.
//
// # Semantics
//
// For every construct Apache Flink CEP also has, the matcher produces exactly
// the matches Flink CEP produces for the same events: Compile builds the same
// state graph as Flink's NFACompiler and the matcher moves partial matches
// through it as Flink's NFA does (TAKE, IGNORE and PROCEED transitions, the
// decision graph of each partial match, the pending state of a trailing
// notFollowedBy, after-match pruning with completed matches held back in start
// order). conformance_test.go pins this down case by case.
//
//   - Step.Where: the step's condition; Step.Stream restricts it to one
//     stream, as Flink's subtype() restricts a condition to a class.
//   - Step.Times: exactly n (Flink times(n)), n..m (times(n, m), "0..m" being
//     optional), n+ (timesOrMore(n), oneOrMore()), 0+ (oneOrMore().optional()),
//     ? (optional()).
//   - Step.Contiguity to the previous step: Strict (next), Relaxed
//     (followedBy, the default), Any (followedByAny).
//   - Step.Loop inside a step taking several events: LoopRelaxed (the
//     default), Consecutive (consecutive()), Combinations
//     (allowCombinations()).
//   - Step.Greedy (greedy()): the step keeps taking events that fit it
//     before the next step may take them.
//   - Step.Until (until()): an event satisfying it ends an unbounded loop and
//     is not taken by it.
//   - Step.Not with Strict contiguity (notNext): the partial match dies if
//     the next event fits the step. As the last step, the match completes
//     at the next event that does not fit it.
//   - Step.Not with Relaxed contiguity (notFollowedBy): the partial match
//     dies if a fitting event comes before the next step's event. As the last
//     step it detects absence: the match completes when the window (Within,
//     or the step's For) closes without such an event, and its Time is that
//     deadline.
//   - Pattern.Within with FirstAndLast (within()): a partial match expires
//     once the span from its first event reaches Within; the bound is
//     exclusive, as in Flink, whose timer fires at first + within before an
//     event with that time is processed.
//   - Pattern.Within with PreviousAndCurrent (within(d, PREVIOUS_AND_CURRENT)):
//     a partial match expires once the gap from its last event reaches Within.
//   - Pattern.AfterMatch: SkipPastLast, NoSkip, SkipToNext, SkipToFirst and
//     SkipToLast (Flink's AfterMatchSkipStrategy). With any strategy but
//     NoSkip a completed match is held back while a partial match that
//     started earlier is alive, and matches leave in the order of their first
//     events, as in Flink.
//   - Pattern.EmitTimeouts: expired partial matches are emitted with
//     TimedOut set (Flink's TimedOutPartialMatchHandler).
//
// Compile rejects what Flink rejects: a pattern starting with a not step;
// a not step that is optional, looping, greedy or has until; a not step right
// after an optional step; a trailing notFollowedBy without a window; a For
// longer than Within; until on a step without an upper bound; consecutive or
// combinations on a step taking one event; an optional step right after a
// greedy one; an after-match strategy naming no step. Errors name the step.
//
// # Where cep chooses
//
// These are the places where cep differs from Flink on purpose, or where
// Flink leaves the behaviour undefined:
//
//   - The default after-match strategy is SkipPastLast, one alert per
//     incident; Flink's default is NoSkip. With NoSkip set explicitly the
//     matcher behaves as Flink.
//   - within_type is a property of the whole pattern. PreviousAndCurrent
//     bounds every gap: between steps and between the events of a loop.
//     Flink attaches the window to one pattern at a time and, by how its
//     compiler names internal states, applies it only to some of them
//     (not inside loops unless times(n, m, window) is used, not to the waiting
//     twin of an optional step).
//   - Step.For is Flink's within(d, PREVIOUS_AND_CURRENT) on the trailing
//     notFollowedBy pattern.
//   - The Time of an absence match is its deadline; Flink stamps it with the
//     watermark that fired the timer. A completed match's Time is the time of
//     the event that completed it: its last event (Flink's match timestamp),
//     or for a trailing notNext the event after it. A timed-out match's Time
//     is its deadline; when both windows have closed it is the
//     previous-event one, as in Flink.
//   - Flink orders matches with the same first event arbitrarily (a priority
//     queue); cep orders them by creation, so the same input always yields
//     the same matches in the same order. Advance handles keys in deadline
//     order, ties broken by key.
//   - Events are ordered as the engine merges them (event.Event.Before: time,
//     stream, arrival), which plays the part of Flink's event ids.
//   - Pattern.Until is Elastic EQL's until, which Flink does not have: an
//     event satisfying it discards every partial match of the key, is not
//     offered to the steps, and releases matches that were held back.
//   - Flink accepts a notFollowedBy right before a trailing one and then
//     ignores it; Compile rejects that pattern. It also rejects greedy on a
//     step that takes one event (no effect in Flink) and a skip strategy
//     naming a not step (never holds events). SkipToFirst or SkipToLast
//     naming a step a match skipped falls back to NoSkip, Flink's default
//     (throwExceptionOnMiss is not offered).
//   - Flink has no limits. cep bounds partial matches per key and in total
//     (Options), sheds the oldest (or the newest) at the limit and counts
//     every drop in Stats. Stats.Bytes estimates the memory of the state,
//     the events it keeps included, and Matcher.Shed drops partial matches,
//     those whose window closes first, until it is under a memory target
//     (Stats.Shed, Stats.ShedBytes). What a key at its limit reports follows from
//     that: with DropOldest (the default) it keeps its newest partial
//     matches, so a burst of N failures against "five failures, then a
//     success" under a limit of L reports failures N−L+1 to N−L+5 (the
//     oldest partial match still kept); with DropNewest it keeps the
//     oldest, and reports the burst's first five failures.
//
// # Running
//
// A Matcher runs one NFA for many keys. The engine calls Process for each
// event of a key in event-time order, and Advance as the watermark moves;
// Advance fires the timers of every key (expiry, absence deadlines) due at
// or before the watermark. Process first fires the due timers of its own key,
// as Flink advances time before each event. The matcher never reads the wall
// clock.
//
// Partial matches share their evidence: each taken event is a node pointing
// to the event taken before it, reference counted, so branching (Any,
// Combinations, optional steps) costs one node per branch, never a copy. A
// key without partial matches holds no state at all. State lives in a Store
// (MemoryStore in process); KeyState.MarshalBinary gives a versioned form for
// snapshots and external stores.
//
// Guards are pure functions: the matcher calls each step's guard at most once
// per partial match and event, and may not call it at all. A guard reads the
// partial match through its View without allocation.
//
// A burst of events on one key gives the key a partial match per event. An
// event is then offered to every one of them, as in Flink, unless the steps
// say that their guards read only the event (Step.ViewFree): partial matches
// waiting in a state whose conditions read only the event are parked
// together, and an event that leaves them where they are costs one decision
// for the whole group (park.go). A burst of 20,000 failures against "five
// failures, then a success" then runs at the speed of spread-out keys
// (BenchmarkBurst), with the same results as without parking. A step that
// compares the event with earlier steps for equality says so (Step.Key):
// partial matches waiting for it are parked by the values they compare,
// and an event is offered only those of its own, so a host with a thousand
// process accesses waiting for a registry write by the same process tests
// a write against the accesses of that process alone. A key fed an event
// out of time order (a rule with late: process) parks nothing while its
// partial matches are out of start order, since the results depend on the
// order in which they were made.
package nfa
