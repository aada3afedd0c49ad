// Package join holds the state machine behind `join:` rules: events of two
// or more sides (streams, each with its own `where` and key) that meet
// within a span of event time.
//
// Semantics. A combination is one event per side, all with the same key.
// It is complete when its events are all within `within` of each other:
// max time - min time ≤ within. The bound is inclusive, as in Kafka Streams
// (JoinWindows of 100 ms joins events exactly 100 ms apart) and Flink's
// interval joins; a sequence's within stays exclusive, as in Flink CEP. An
// inner join emits every complete combination exactly once, when the last
// of its events is added; so each new event joins with every combination
// of buffered events of the other sides that completes with it, and with
// k events buffered per side an event can emit up to k^(sides-1) matches.
//
// Outer joins add one rule. Left joins preserve the first side, full joins
// every side. A preserved event that took part in no complete combination
// is emitted once when its window closes (the watermark has passed its time
// + within): with each other side set to the latest buffered
// event of that side that is within `within` of the events chosen so far
// (sides taken in rule order), or nil. Events shown in such a partial match
// are not shown again in another one, so a full join reports every event at
// least once and an unmatched event exactly once.
//
// Lateness is judged per buffer. Events of a key may come out of order by
// up to Config.AllowedLateness behind the watermark: buffers keep every
// event until the watermark has passed its time + within + that lateness,
// so such an event still meets every partner it would have met in order.
// An event further behind is late, counted and not joined, because
// partners it should meet may already be forgotten. With no allowed
// lateness, every event behind the watermark is late, as in Flink's
// interval join.
//
// Memory is bounded. Config.MaxKeys bounds keys (an event of a new key
// beyond it is dropped); Config.MaxPerSide bounds the events buffered per
// key and side (an event beyond it still joins, but is not kept for later
// partners); Config.MaxMatchesPerEvent bounds the combinations one event
// emits (the rest are counted, not emitted). Bytes estimates the memory of
// the buffers (per key with KeyBytes), kept up to date as events come and
// go; Shed drops the oldest buffered events until it is under a target.
// Everything dropped is counted in Stats.
package join
