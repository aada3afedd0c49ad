// Command cep is a complex-event-processing rule engine for fraud and
// security detection. See README.md for a tour.
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"
	_ "time/tzdata" // zone names work where the system has no zone database

	"github.com/cep-project/cep/internal/gcpace"
	"github.com/spf13/cobra"
)

// Exit codes are a contract: scripts and CI depend on them.
const (
	exitOK      = 0
	exitFailed  = 1 // test failures, lint errors
	exitUsage   = 2 // bad usage, rules or config that do not load
	exitRuntime = 3 // a failure while running (I/O, a sink that cannot start)
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func exitWith(code int, format string, args ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, args...)}
}

// quietExit ends with a code without printing anything more.
func quietExit(code int) error { return &exitError{code: code} }

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// app holds what every command shares: where output goes and the logger.
type app struct {
	stdin    io.Reader
	stdout   io.Writer
	stderr   io.Writer
	logLevel string
	logJSON  bool
	log      *slog.Logger
}

func main() {
	// GOGC follows the live heap: 200 while it is small, 100 once it is
	// large (see gcpace). GOGC in the environment overrides it.
	gcpace.Start(os.Getenv)
	a := &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	os.Exit(a.main(os.Args[1:]))
}

func (a *app) main(args []string) int {
	root := a.root()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(a.stderr, "cep:", ee.err)
		}
		return ee.code
	}
	// Cobra's own errors are usage errors: unknown flags, bad arguments.
	fmt.Fprintln(a.stderr, "cep:", err)
	fmt.Fprintln(a.stderr, "Run 'cep --help' for usage.")
	return exitUsage
}

func (a *app) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "cep",
		Short: "Complex-event-processing rules for fraud and security detection",
		Long: `cep reads detection rules (YAML files with CEL conditions), compiles each
into a detector — a filter, a sequence, a windowed aggregate or a join — runs
them over event streams in event time, and writes prioritised alerts.

Run the fraud example:
  cep run --config examples/fraud/cep.yaml

Replay files through rules:
  cep run --rules examples/fraud/rules --input payments=examples/fraud/data/payments.jsonl --output alerts.jsonl

Test and lint rules:
  cep test examples/fraud/rules
  cep lint examples/fraud/rules`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return a.setupLog()
		},
	}
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.PersistentFlags().BoolVar(&a.logJSON, "log-json", false, "write logs as JSON lines")
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.AddCommand(a.runCmd(), a.testCmd(), a.lintCmd(), a.versionCmd(), a.benchCmd(), a.benchFeedCmd(), a.scoreCmd(), a.backtestCmd(), a.importCmd(), a.deadLetterCmd())
	return root
}

func (a *app) setupLog() error {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(strings.ToLower(a.logLevel))); err != nil {
		return exitWith(exitUsage, "--log-level: %v", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if a.logJSON {
		a.log = slog.New(slog.NewJSONHandler(a.stderr, opts))
	} else {
		a.log = slog.New(slog.NewTextHandler(a.stderr, opts))
	}
	return nil
}

// buildDetails describes the binary from its build info: the module
// version, the VCS revision and whether the tree was modified, and Go's
// version.
func buildDetails() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	parts := []string{"module " + bi.Main.Path + " " + bi.Main.Version}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		parts = append(parts, "revision "+rev)
		if modified == "true" {
			parts = append(parts, "modified")
		}
	} else {
		parts = append(parts, "no VCS revision recorded")
	}
	parts = append(parts, bi.GoVersion)
	return " (" + strings.Join(parts, ", ") + ")"
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of cep, its VCS revision and Go version",
		Example: `  cep version
  cep dev (module github.com/cep-project/cep (devel), revision 1279c57…, modified, go1.26.8)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(a.stdout, "cep %s%s\n", version, buildDetails())
			return nil
		},
	}
}
