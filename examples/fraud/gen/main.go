// Command gen writes the fraud example's event files:
//
//	go run ./examples/fraud/gen -out examples/fraud/data -events 20000 -seed 7
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/cep-project/cep/examples/fraud/fraudgen"
)

func main() {
	out := flag.String("out", "examples/fraud/data", "directory to write payments.jsonl, auth.jsonl and account.jsonl into")
	events := flag.Int("events", 20000, "approximate number of events over all streams")
	seed := flag.Int64("seed", 7, "random seed; the same seed writes the same files")
	rate := flag.Float64("rate", 20, "events per second of event time")
	fraud := flag.Float64("fraud", 0.01, "share of fraudulent behaviour (0-1)")
	start := flag.String("start", "2026-03-02T08:00:00Z", "event time of the first event (RFC 3339)")
	flag.Parse()
	t, err := time.Parse(time.RFC3339, *start)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen: -start:", err)
		os.Exit(2)
	}
	cfg := fraudgen.Config{Seed: *seed, Events: *events, Rate: *rate, FraudRate: *fraud, Start: t}
	if err := fraudgen.Generate(*out, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "gen: wrote %v into %s\n", fraudgen.Streams, *out)
}
