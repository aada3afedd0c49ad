package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/cep-project/cep/internal/seal"
	"github.com/cep-project/cep/internal/secret"
	"github.com/cep-project/cep/sinks/siem"
)

func (a *app) deadLetterCmd() *cobra.Command {
	var config, sink string
	cmd := &cobra.Command{
		Use:   "dead-letter",
		Short: "Print a sink's dead letters, opening sealed records",
		Long: `Print the alerts a sink's destination refused for good (its spool
directory's dead-letter.jsonl) as JSON lines: time, sink, id, reason and
record, the formatted alert. With spool.encryption the records are sealed
on disk; this opens them with the sink's keys (the current one and those
under previous), so an operator can fix the cause and replay them. A
record sealed under a key the config lacks is refused by the key's id.`,
		Example: `  cep dead-letter --config cep.yaml --sink elastic > rejected.jsonl`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if config == "" || sink == "" {
				return exitWith(exitUsage, "dead-letter needs --config FILE and --sink NAME")
			}
			cfg, err := loadConfig(config)
			if err != nil {
				return exitWith(exitUsage, "%v", err)
			}
			var sc *siem.Config
			var names []string
			for i := range cfg.Sinks {
				names = append(names, cfg.Sinks[i].Name)
				if cfg.Sinks[i].Name == sink {
					sc = &cfg.Sinks[i]
				}
			}
			if sc == nil {
				return exitWith(exitUsage, "--sink %q: the config has sinks %v", sink, names)
			}
			sc.ResolvePaths(cfg.resolve)
			if sc.Spool.Dir == "" {
				return exitWith(exitUsage, "sink %q has no spool.dir, so it keeps no dead letters", sink)
			}
			var keys *seal.Keyring
			if e := sc.Spool.Encryption; e != nil {
				if keys, err = e.Keyring(secret.Default, "spool.encryption."); err != nil {
					return exitWith(exitUsage, "sink %q: %v", sink, err)
				}
			}
			path := filepath.Join(sc.Spool.Dir, siem.DeadLetterFile)
			f, err := os.Open(path)
			if errors.Is(err, os.ErrNotExist) {
				return nil // nothing was refused
			}
			if err != nil {
				return exitWith(exitUsage, "%v", err)
			}
			defer f.Close()
			w := bufio.NewWriter(a.stdout)
			enc := json.NewEncoder(w)
			err = siem.ReadDeadLetter(f, keys, func(d siem.DeadLetter) error { return enc.Encode(d) })
			if ferr := w.Flush(); err == nil {
				err = ferr
			}
			if err != nil {
				return exitWith(exitRuntime, "%s: %v", path, err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&config, "config", "", "the cep.yaml that configures the sink")
	f.StringVar(&sink, "sink", "", "the sink's name")
	return cmd
}
