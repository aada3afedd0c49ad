package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/cep-project/cep/examples/fraud/fraudgen"
)

func (a *app) generateCmd() *cobra.Command {
	var cfg fraudgen.Config
	var out, start string
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Write the fraud example's synthetic event files",
		Long: `Write payments.jsonl, auth.jsonl and account.jsonl: card authorisations,
transfers and checkouts, logins, and credential changes, with fraud injected
(card testing, account takeover, impossible travel, velocity bursts,
high-risk merchants, abandoned checkouts). The same seed writes the same
files.`,
		Example: `  cep generate --out examples/fraud/data --events 20000 --seed 7
  cep generate --out /tmp/big --events 5000000 --rate 2000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := time.Parse(time.RFC3339, start)
			if err != nil {
				return exitWith(exitUsage, "--start: %v", err)
			}
			cfg.Start = t
			if err := fraudgen.Generate(out, cfg); err != nil {
				return exitWith(exitRuntime, "%v", err)
			}
			fmt.Fprintf(a.stderr, "wrote %v into %s\n", fraudgen.Streams, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&out, "out", "examples/fraud/data", "directory to write into")
	f.IntVar(&cfg.Events, "events", 20000, "approximate number of events over all streams")
	f.Int64Var(&cfg.Seed, "seed", 7, "random seed")
	f.Float64Var(&cfg.Rate, "rate", 20, "events per second of event time")
	f.Float64Var(&cfg.FraudRate, "fraud", 0.01, "share of fraudulent behaviour (0-1)")
	f.StringVar(&start, "start", "2026-03-02T08:00:00Z", "event time of the first event")
	return cmd
}
