// Package rulefmt is the rule file format (docs/ARCHITECTURE.md, "Contracts"): it decodes
// rule files, rule test files (*.test.yaml) and online model files
// (*.online.yaml) strictly, and reports every problem of a file at once,
// each as file:line:col with a caret under the offending character. CEL
// expressions are kept as written, with what it takes to map a position
// inside an expression back to the file (Expr), so the compiler's type
// errors point into the file too.
package rulefmt
