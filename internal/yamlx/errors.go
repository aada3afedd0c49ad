package yamlx

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Pos is a position in a YAML file. Line and Col are 1-based; Col counts
// bytes, as Go's compiler and Prometheus do.
type Pos struct {
	File string
	Line int
	Col  int
}

// String renders file:line:col, leaving out what is unknown.
func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is a problem in a YAML file, with its position and, when the
// source is known, the offending line with a caret under the column.
type Error struct {
	Pos     Pos
	Msg     string
	Snippet string
	// Warning marks findings that do not stop a file from loading.
	Warning bool
}

// Error renders file:line:col: message, then the snippet.
func (e *Error) Error() string {
	s := e.Pos.String() + ": " + e.Msg
	if e.Snippet != "" {
		s += "\n" + e.Snippet
	}
	return s
}

// Snippet renders the line of src at pos with a caret under its column.
func Snippet(src []byte, pos Pos) string {
	if src == nil || pos.Line <= 0 {
		return ""
	}
	// Find the line without splitting the whole file: a file with many
	// errors would otherwise be split once per error.
	start := 0
	for l := 1; l < pos.Line; l++ {
		i := strings.IndexByte(string(src[start:]), '\n')
		if i < 0 {
			return ""
		}
		start += i + 1
	}
	end := len(src)
	if i := strings.IndexByte(string(src[start:]), '\n'); i >= 0 {
		end = start + i
	}
	line := strings.TrimRight(string(src[start:end]), "\r")
	col := max(pos.Col, 1)
	col = min(col, len(line)+1)
	// Tabs before the caret are kept as tabs so the caret lines up.
	var pad strings.Builder
	for i := 0; i < col-1; i++ {
		if line[i] == '\t' {
			pad.WriteByte('\t')
		} else {
			pad.WriteByte(' ')
		}
	}
	return fmt.Sprintf(" | %s\n | %s^", line, pad.String())
}

// IsWarning reports whether err is a warning rather than an error.
func IsWarning(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Warning
}

// HasErrors reports whether errs holds anything but warnings.
func HasErrors(errs []error) bool {
	for _, e := range errs {
		if !IsWarning(e) {
			return true
		}
	}
	return false
}

// SortErrors orders errors by position, keeping the order of errors at the
// same place and putting errors without a position first.
func SortErrors(errs []error) {
	pos := func(err error) (int, int) {
		var e *Error
		if errors.As(err, &e) {
			return e.Pos.Line, e.Pos.Col
		}
		return 0, 0
	}
	slices.SortStableFunc(errs, func(a, b error) int {
		la, ca := pos(a)
		lb, cb := pos(b)
		if la != lb {
			return la - lb
		}
		return ca - cb
	})
}

// Errors collects the problems of one file so that all are reported at
// once, each with a snippet of the source.
type Errors struct {
	File string
	Src  []byte
	List []error
}

// Add records an error at line and col.
func (l *Errors) Add(line, col int, format string, args ...any) {
	l.add(false, line, col, format, args...)
}

// Warn records a warning at line and col.
func (l *Errors) Warn(line, col int, format string, args ...any) {
	l.add(true, line, col, format, args...)
}

func (l *Errors) add(warn bool, line, col int, format string, args ...any) {
	pos := Pos{File: l.File, Line: line, Col: col}
	l.List = append(l.List, &Error{Pos: pos, Msg: fmt.Sprintf(format, args...), Snippet: Snippet(l.Src, pos), Warning: warn})
}

// HasErrors reports whether anything but warnings was recorded.
func (l *Errors) HasErrors() bool { return HasErrors(l.List) }
