package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/cep-project/cep/ml"
)

func (a *app) scoreCmd() *cobra.Command {
	var model, input, output, format string
	cmd := &cobra.Command{
		Use:   "score",
		Short: "Score rows with a PMML model",
		Long: `Score every row of a CSV or JSON-lines file with a PMML model, so that
an analyst can check a model before a rule uses it. The output has one JSON
object per input row, in order, holding every OutputField of the model by
name (or the predicted target under the target's name when the model
declares no Output). In CSV input an empty cell or NA is a missing value;
in JSON lines, null is.`,
		Example: `  cep score --model examples/fraud/models/card-risk.pmml --input rows.csv --output scores.jsonl
  cat rows.jsonl | cep score --model card-risk.pmml --input - --format jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if model == "" || input == "" {
				return exitWith(exitUsage, "score needs --model FILE.pmml and --input FILE")
			}
			m, err := ml.Load(model)
			if err != nil {
				return exitWith(exitUsage, "%v", err)
			}
			if format == "" {
				format = ml.FormatOf(input)
			}
			if format == "" {
				return exitWith(exitUsage, "--input %s: cannot tell the format from the name; give --format csv or jsonl", input)
			}
			in := a.stdin
			if input != "-" {
				f, err := os.Open(input)
				if err != nil {
					return exitWith(exitUsage, "--input: %v", err)
				}
				defer f.Close()
				in = f
			}
			out := a.stdout
			if output != "-" {
				f, err := os.Create(output)
				if err != nil {
					return exitWith(exitUsage, "--output: %v", err)
				}
				defer f.Close()
				out = f
			}
			if err := ml.ScoreRows(m, in, format, out); err != nil {
				return exitWith(exitFailed, "%s: %v", input, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&model, "model", "", "PMML model file")
	cmd.Flags().StringVarP(&input, "input", "i", "", "rows to score: .csv or .jsonl (- is stdin)")
	cmd.Flags().StringVarP(&output, "output", "o", "-", "where scores go (- is stdout)")
	cmd.Flags().StringVar(&format, "format", "", "input format when the name does not tell: csv or jsonl")
	return cmd
}
