package rules

import (
	"errors"
	"fmt"
	"strings"
)

// Pos is a position in a rule file. Line and Col are 1-based; Col counts
// bytes, as Go's compiler and Prometheus do.
type Pos struct {
	File string
	Line int
	Col  int
}

func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is a problem in a rule file, with its position and, when the
// source is known, the offending line with a caret under the column.
type Error struct {
	Pos     Pos
	Msg     string
	Snippet string
	// Warning marks lint findings that do not stop a rule from loading.
	Warning bool
}

func (e *Error) Error() string {
	s := e.Pos.String() + ": " + e.Msg
	if e.Snippet != "" {
		s += "\n" + e.Snippet
	}
	return s
}

// snippet renders the line of src at pos with a caret under its column.
func snippet(src []byte, pos Pos) string {
	if src == nil || pos.Line <= 0 {
		return ""
	}
	lines := strings.Split(string(src), "\n")
	if pos.Line > len(lines) {
		return ""
	}
	line := strings.TrimRight(lines[pos.Line-1], "\r")
	col := pos.Col
	if col < 1 {
		col = 1
	}
	if col > len(line)+1 {
		col = len(line) + 1
	}
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

// errorList collects the errors of one file so all are reported at once.
type errorList struct {
	file string
	src  []byte
	errs []error
}

func (l *errorList) add(line, col int, format string, args ...any) {
	pos := Pos{File: l.file, Line: line, Col: col}
	l.errs = append(l.errs, &Error{Pos: pos, Msg: fmt.Sprintf(format, args...), Snippet: snippet(l.src, pos)})
}

func (l *errorList) warn(line, col int, format string, args ...any) {
	pos := Pos{File: l.file, Line: line, Col: col}
	l.errs = append(l.errs, &Error{Pos: pos, Msg: fmt.Sprintf(format, args...), Snippet: snippet(l.src, pos), Warning: true})
}

// IsWarning reports whether err is a lint warning rather than an error.
func IsWarning(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Warning
}
