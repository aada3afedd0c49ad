package rulefmt

import (
	"github.com/cep-project/cep/internal/yamlx"
)

// Parse decodes one rule file. It returns the rule as written and every
// problem found; the spec is nil when the file holds no rule at all (no
// document, or a YAML syntax error). A spec with errors is returned too,
// so that the compiler can still report the errors of its expressions.
func Parse(file string, src []byte) (*Spec, []error) {
	doc, err := yamlx.Parse(file, src, "a rule file holds one rule; put the next one in its own file")
	if err != nil {
		return nil, []error{err}
	}
	if doc == nil {
		return nil, []error{&yamlx.Error{Pos: yamlx.Pos{File: file}, Msg: "the file is empty: a rule file holds one rule"}}
	}
	d := yamlx.NewDecoder(file, src)
	d.Root = "rule"
	spec := &Spec{}
	d.Decode(doc, spec)
	if d.Stopped() {
		return nil, d.List
	}
	return spec, d.List
}
