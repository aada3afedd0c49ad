// Package rules is the rule compiler: it turns rule files (decoded by
// rulefmt) into compiled rules whose conditions, keys and alert fields are
// CEL programs of the celenv environment, type-checked and cost-estimated
// at load, with every error placed in its file. It also loads rule
// directories (Load), lints loaded rules, resolves the PMML and online
// models rules score with, and extracts the equality constraints the
// engine indexes rules by.
//
// Sub-packages: rulefmt (the file format), celenv (the CEL environment),
// reflist (reference lists) and ruletest (the analyst test runner).
package rules
