package ml

import (
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// elem is one XML element with the line it starts on. PMML is decoded into
// this generic tree first so that every later check can name the element and
// line it rejects.
type elem struct {
	name     string
	attrs    []xml.Attr
	children []*elem
	text     string
	line     int
}

const xsiNamespace = "http://www.w3.org/2001/XMLSchema-instance"

// maxDepth bounds nesting so that a hostile document cannot exhaust the stack.
const maxDepth = 1000

func readTree(r io.Reader) (*elem, error) {
	d := xml.NewDecoder(r)
	d.Strict = true
	var stack []*elem
	var root *elem
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			line, _ := d.InputPos()
			return nil, fmt.Errorf("%d: malformed XML: %v", line, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			line, _ := d.InputPos()
			e := &elem{name: t.Name.Local, line: line}
			for _, a := range t.Attr {
				if a.Name.Space == "xmlns" || a.Name.Space == "" && a.Name.Local == "xmlns" || a.Name.Space == xsiNamespace {
					continue
				}
				e.attrs = append(e.attrs, xml.Attr{Name: xml.Name{Local: a.Name.Local}, Value: a.Value})
			}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.children = append(p.children, e)
			} else if root == nil {
				root = e
			}
			if len(stack) >= maxDepth {
				return nil, fmt.Errorf("%d: elements nested deeper than %d", line, maxDepth)
			}
			stack = append(stack, e)
			text.Reset()
		case xml.EndElement:
			if len(stack) == 0 {
				break
			}
			e := stack[len(stack)-1]
			if len(e.children) == 0 {
				e.text = text.String()
			}
			text.Reset()
			stack = stack[:len(stack)-1]
		case xml.CharData:
			text.Write(t)
		}
	}
	if root == nil {
		return nil, fmt.Errorf("1: no XML element")
	}
	return root, nil
}

func (e *elem) attr(name string) (string, bool) {
	for _, a := range e.attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

func (e *elem) attrOr(name, def string) string {
	if v, ok := e.attr(name); ok {
		return v
	}
	return def
}

func (e *elem) child(name string) *elem {
	for _, c := range e.children {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (e *elem) all(name string) []*elem {
	var out []*elem
	for _, c := range e.children {
		if c.name == name {
			out = append(out, c)
		}
	}
	return out
}

// errList collects load errors so that one load reports every problem it can
// find, each as "file:line: message".
type errList struct {
	file string
	errs []error
}

const maxLoadErrors = 20

func (l *errList) add(e *elem, format string, args ...any) {
	if len(l.errs) >= maxLoadErrors {
		return
	}
	line := 0
	if e != nil {
		line = e.line
	}
	l.errs = append(l.errs, fmt.Errorf("%s:%d: %s", l.file, line, fmt.Sprintf(format, args...)))
}

func (l *errList) unsupported(e *elem) {
	l.add(e, "unsupported element <%s>", e.name)
}

// float parses a numeric attribute, reporting where it is wrong.
func (l *errList) float(e *elem, name string, def float64) float64 {
	s, ok := e.attr(name)
	if !ok {
		return def
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		l.add(e, "<%s> attribute %s=%q is not a number", e.name, name, s)
		return def
	}
	return f
}

func (l *errList) reqFloat(e *elem, name string) float64 {
	if _, ok := e.attr(name); !ok {
		l.add(e, "<%s> needs attribute %s", e.name, name)
		return 0
	}
	return l.float(e, name, 0)
}

func (l *errList) reqAttr(e *elem, name string) string {
	s, ok := e.attr(name)
	if !ok {
		l.add(e, "<%s> needs attribute %s", e.name, name)
	}
	return s
}

// enum reads an attribute that must be one of the given values; the first is
// the default.
func (l *errList) enum(e *elem, name string, values ...string) string {
	s, ok := e.attr(name)
	if !ok {
		return values[0]
	}
	for _, v := range values {
		if s == v {
			return s
		}
	}
	l.add(e, "<%s> %s=%q is not supported (supported: %s)", e.name, name, s, strings.Join(values, ", "))
	return values[0]
}

// ignorable elements carry documentation or statistics, never scoring rules.
var ignorable = map[string]bool{
	"Extension": true, "ModelStats": true, "ModelExplanation": true,
	"ModelVerification": true, "Annotation": true, "Timestamp": true,
	"Application": true, "MiningBuildTask": true, "Taxonomy": true,
}

// checkChildren rejects any child element not in known and not ignorable.
func (l *errList) checkChildren(e *elem, known ...string) {
	for _, c := range e.children {
		if ignorable[c.name] {
			continue
		}
		ok := false
		for _, k := range known {
			if c.name == k {
				ok = true
				break
			}
		}
		if !ok {
			l.unsupported(c)
		}
	}
}
