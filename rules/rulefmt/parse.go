package rulefmt

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/cep-project/cep/internal/yamlx"
)

// Parse decodes one rule file. It returns the rule as written and every
// problem found; the spec is nil when the file holds no rule at all.
func Parse(file string, src []byte) (*Spec, []error) {
	doc, err := parseDocument(file, src)
	if err != nil {
		return nil, []error{err}
	}
	if doc == nil {
		return nil, []error{&yamlx.Error{Pos: yamlx.Pos{File: file}, Msg: "the file is empty: a rule file holds one rule"}}
	}
	d := newDecoder(file, src)
	spec := parseSpec(d, doc)
	return spec, d.List
}

// parseDocument reads the single YAML document of a file. YAML syntax
// errors carry a line but no column.
func parseDocument(file string, src []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(strings.NewReader(string(src)))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if err.Error() == "EOF" {
			return nil, nil
		}
		return nil, yamlError(file, src, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &yamlx.Error{Pos: yamlx.Pos{File: file, Line: extra.Line, Col: extra.Column}, Msg: "a rule file holds one rule; put the next one in its own file"}
	}
	if len(root.Content) == 0 {
		return nil, nil
	}
	return root.Content[0], nil
}

// yamlError turns "yaml: line 7: mapping values are not allowed" into a
// positioned error.
func yamlError(file string, src []byte, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if strings.HasPrefix(msg, "line ") {
		rest := msg[len("line "):]
		if i := strings.Index(rest, ":"); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				line = n
			}
			msg = strings.TrimSpace(rest[i+1:])
		}
	}
	p := yamlx.Pos{File: file, Line: line}
	return &yamlx.Error{Pos: p, Msg: "invalid YAML: " + msg, Snippet: yamlx.Snippet(src, yamlx.Pos{File: file, Line: line, Col: 1})}
}
