package yamlx

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	goccy "github.com/goccy/go-yaml"
	goccyparser "github.com/goccy/go-yaml/parser"
	"go.yaml.in/yaml/v3"
)

// Parse reads the single YAML document of src. It returns nil, nil for a
// file without a document (empty, or only comments). A second document is
// an error with the position where it starts; second names what the file
// holds one of, as in "a rule file holds one rule". Syntax errors carry
// the line and column of the mistake, with a caret.
func Parse(file string, src []byte, second string) (*yaml.Node, error) {
	dec := yaml.NewDecoder(strings.NewReader(string(src)))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, syntaxError(file, src, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		p := Pos{File: file, Line: extra.Line, Col: extra.Column}
		return nil, &Error{Pos: p, Msg: second, Snippet: Snippet(src, p)}
	} else if !errors.Is(err, io.EOF) {
		return nil, syntaxError(file, src, err)
	}
	if len(root.Content) == 0 {
		return nil, nil
	}
	return root.Content[0], nil
}

// syntaxError places a YAML syntax error. yaml.v3 reports only the line
// where its scanner gave up, which is often before the mistake (an
// unclosed [ on line 3 comes out as line 2) and never a column; goccy's
// parser keeps the token it failed at, so the file is parsed again with it
// to find the place. When the two parsers disagree (goccy accepts what
// yaml.v3 rejects), yaml.v3's line is kept.
func syntaxError(file string, src []byte, v3err error) error {
	var se *goccy.SyntaxError
	if _, err := goccyparser.ParseBytes(src, 0); errors.As(err, &se) && se.Token != nil && se.Token.Position != nil {
		line, col := se.Token.Position.Line, byteColumn(src, se.Token.Position.Line, se.Token.Position.Column)
		msg := se.Message
		if l, c, open, ok := unclosedFlow(src, line, col); ok && strings.ContainsAny(msg, "]}") {
			// The parser notices a missing ] or } where the next
			// thing starts; the mistake is the opening bracket.
			msg = "this " + open + " is never closed: " + msg + " before line " + strconv.Itoa(line) + ", column " + strconv.Itoa(col)
			line, col = l, c
		}
		p := Pos{File: file, Line: line, Col: col}
		return &Error{Pos: p, Msg: "invalid YAML: " + msg, Snippet: Snippet(src, p)}
	}
	msg := strings.TrimPrefix(v3err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ":"); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				line = n
			}
			msg = strings.TrimSpace(rest[i+1:])
		}
	}
	p := Pos{File: file, Line: line}
	return &Error{Pos: p, Msg: "invalid YAML: " + msg, Snippet: Snippet(src, Pos{File: file, Line: line, Col: 1})}
}

// byteColumn turns goccy's column, which counts characters, into the byte
// column Pos uses.
func byteColumn(src []byte, line, col int) int {
	text := lineText(src, line)
	off := 0
	for c := 1; c < col && off < len(text); c++ {
		_, w := utf8.DecodeRuneInString(text[off:])
		off += w
	}
	if col > 0 && off == len(text) && col-1 > utf8.RuneCountInString(text) {
		return col
	}
	return off + 1
}

func lineText(src []byte, line int) string {
	s := string(src)
	for l := 1; l < line; l++ {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			return ""
		}
		s = s[i+1:]
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimRight(s, "\r")
}

// unclosedFlow finds the innermost [ or { still open at line:col, skipping
// quoted text and comments.
func unclosedFlow(src []byte, line, col int) (int, int, string, bool) {
	type open struct {
		line, col int
		ch        byte
	}
	var stack []open
	l, c := 1, 1
	var quote byte
	comment := false
	prev := byte('\n')
	for i := 0; i < len(src); i++ {
		if l > line || (l == line && c >= col) {
			break
		}
		ch := src[i]
		switch {
		case ch == '\n':
			comment = false
			if quote == 0 {
				prev = ch
			}
			l, c = l+1, 1
			continue
		case comment:
		case quote == '"':
			if ch == '\\' && i+1 < len(src) && src[i+1] != '\n' {
				i++
				c++
			} else if ch == '"' {
				quote = 0
			}
		case quote == '\'':
			if ch == '\'' {
				if i+1 < len(src) && src[i+1] == '\'' {
					i++
					c++
				} else {
					quote = 0
				}
			}
		case ch == '#' && (prev == ' ' || prev == '\t' || prev == '\n'):
			comment = true
		case (ch == '"' || ch == '\'') && (prev == ' ' || prev == '\t' || prev == '\n' || prev == '[' || prev == '{' || prev == ',' || prev == ':'):
			quote = ch
		case ch == '[' || ch == '{':
			stack = append(stack, open{l, c, ch})
		case ch == ']' || ch == '}':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
		prev = ch
		c++
	}
	if len(stack) == 0 {
		return 0, 0, "", false
	}
	top := stack[len(stack)-1]
	return top.line, top.col, string(top.ch), true
}
