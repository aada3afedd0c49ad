package ml

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Load reads and compiles the PMML document at path. Errors name the path
// and the line of the offending element.
func Load(path string) (*Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Parse(f, path)
}

// maxDocument bounds what Parse reads, far above any real exported model.
const maxDocument = 512 << 20

// Parse reads and compiles a PMML document. name is used in error messages
// and, without directories and the .pmml extension, as the model's name.
func Parse(r io.Reader, name string) (*Model, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxDocument+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > maxDocument {
		return nil, fmt.Errorf("%s: document larger than %d bytes", name, maxDocument)
	}
	root, err := readTree(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s:%w", name, err)
	}
	sum := sha256.Sum256(data)
	c := &compiler{
		errs: &errList{file: name},
		dd:   map[string]*fieldDef{},
	}
	m := c.document(root)
	if len(c.errs.errs) > 0 {
		return nil, errors.Join(c.errs.errs...)
	}
	m.Name = strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	m.Version = hex.EncodeToString(sum[:])[:12]
	return m, nil
}

var supportedModels = map[string]bool{
	"RegressionModel": true, "TreeModel": true, "MiningModel": true,
	"Scorecard": true, "NeuralNetwork": true, "GeneralRegressionModel": true,
	"SupportVectorMachineModel": true, "NaiveBayesModel": true,
	"ClusteringModel": true, "NearestNeighborModel": true, "RuleSetModel": true,
}

// compiler turns the element tree into an evaluation plan: every field gets
// a slot in one flat array and every model a node with pre-sized state.
type compiler struct {
	errs     *errList
	dd       map[string]*fieldDef
	ddOrder  []*fieldDef
	derivers []deriver
	nodes    []*modelNode
	funcs    map[string]*userFunc
	// params maps parameter names while a DefineFunction body compiles.
	params     map[string]int
	paramTypes []DataType
	inputs     []Field
	inputIdx   map[string]int
	// inputSlots are the prepared slots of top-level inputs, evaluated
	// eagerly so that an invalid input fails whatever path the model takes.
	inputSlots []int
	root       *scope
	// application is the Header's Application name: the exporter.
	application string
}

func (c *compiler) document(root *elem) *Model {
	m := &Model{}
	if root.name != "PMML" {
		c.errs.add(root, "root element is <%s>, want <PMML>", root.name)
		return m
	}
	m.PMMLVersion = root.attrOr("version", "")
	if v := m.PMMLVersion; v != "" && !strings.HasPrefix(v, "4.") && !strings.HasPrefix(v, "3.") {
		c.errs.add(root, "PMML version %q is not supported (3.x and 4.x are)", v)
	}
	var modelElem, dd, td *elem
	for _, e := range root.children {
		switch {
		case e.name == "Header":
			if app := e.child("Application"); app != nil {
				c.application = app.attrOr("name", "")
			}
		case ignorable[e.name]:
		case e.name == "DataDictionary":
			dd = e
		case e.name == "TransformationDictionary":
			td = e
		case supportedModels[e.name]:
			if modelElem != nil {
				c.errs.add(e, "second model <%s>: a document must hold exactly one model (use a MiningModel to combine models)", e.name)
				continue
			}
			modelElem = e
		default:
			c.errs.unsupported(e)
		}
	}
	if dd == nil {
		c.errs.add(root, "no <DataDictionary>")
		return m
	}
	c.dataDictionary(dd)
	if modelElem == nil {
		if len(c.errs.errs) == 0 {
			c.errs.add(root, "no supported model element (supported: RegressionModel, GeneralRegressionModel, TreeModel, RuleSetModel, MiningModel, Scorecard, NeuralNetwork, SupportVectorMachineModel, NaiveBayesModel, NearestNeighborModel, ClusteringModel)")
		}
		return m
	}
	c.root = &scope{fields: map[string]*scopeField{}}
	c.inputIdx = map[string]int{}
	if td != nil {
		c.transformationDictionary(td)
	}
	top := c.model(modelElem, c.root, true)
	if top == nil || len(c.errs.errs) > 0 {
		return m
	}
	m.root = top
	m.nodes = c.nodes
	m.derivers = c.derivers
	m.inputs = c.inputs
	m.inputIdx = c.inputIdx
	m.inputSlots = c.inputSlots
	m.finish()
	return m
}

// deriver computes the value of a slot from other slots or inputs.
type deriver interface {
	derive(s *Scorer) Value
}

type fieldState uint8

const (
	fieldReady fieldState = iota
	fieldPending
	fieldCompiling
)

type scopeField struct {
	slot    int
	def     *fieldDef
	state   fieldState
	pending *elem
	sc      *scope
}

// scope maps field names to slots. Models see their own MiningSchema,
// LocalTransformations and outputs, then their parent's fields.
type scope struct {
	parent *scope
	fields map[string]*scopeField
	// prep holds the MiningField treatment of each prepared field, so that a
	// nested model with the same treatment shares its parent's slot.
	prep map[string]treatment
}

func (c *compiler) newSlot(d deriver) int {
	c.derivers = append(c.derivers, d)
	return len(c.derivers) - 1
}

// declare registers a derived field to be compiled on first use, so fields
// may refer to fields defined after them.
func (c *compiler) declare(sc *scope, e *elem) {
	def := c.fieldHeader(e, true)
	if def == nil {
		return
	}
	if _, dup := sc.fields[def.name]; dup {
		c.errs.add(e, "field %q is defined twice", def.name)
		return
	}
	sc.fields[def.name] = &scopeField{slot: c.newSlot(nil), def: def, state: fieldPending, pending: e, sc: sc}
}

func (c *compiler) lookup(sc *scope, name string) *scopeField {
	for s := sc; s != nil; s = s.parent {
		if f, ok := s.fields[name]; ok {
			return f
		}
	}
	return nil
}

// resolve finds a field by name for a reference at elem at, compiling a
// pending derived field and detecting definition cycles.
func (c *compiler) resolve(sc *scope, name string, at *elem) *scopeField {
	f := c.lookup(sc, name)
	if f == nil {
		if d, ok := c.dd[name]; ok {
			f = c.rootInput(d)
		} else {
			c.errs.add(at, "<%s> refers to undefined field %q", at.name, name)
			return nil
		}
	}
	switch f.state {
	case fieldPending:
		f.state = fieldCompiling
		c.derivedField(f)
		f.state = fieldReady
	case fieldCompiling:
		c.errs.add(at, "field %q is defined in terms of itself", name)
		return nil
	}
	return f
}

// rootInput makes a DataField that the top-level MiningSchema does not list
// available as an input with default treatment.
func (c *compiler) rootInput(d *fieldDef) *scopeField {
	if f, ok := c.root.fields[d.name]; ok {
		return f
	}
	t := treatment{}
	idx := c.addInput(d)
	f := &scopeField{slot: c.newSlot(newPrep(d.name, d, -1, idx, t)), def: d}
	c.inputSlots = append(c.inputSlots, f.slot)
	c.root.fields[d.name] = f
	if c.root.prep == nil {
		c.root.prep = map[string]treatment{}
	}
	c.root.prep[d.name] = t
	return f
}

func (c *compiler) addInput(d *fieldDef) int {
	if i, ok := c.inputIdx[d.name]; ok {
		return i
	}
	c.inputs = append(c.inputs, d.public())
	c.inputIdx[d.name] = len(c.inputs) - 1
	return len(c.inputs) - 1
}

type derivedField struct {
	x  expr
	dt DataType
}

func (d *derivedField) derive(s *Scorer) Value { return castTo(d.x.eval(s), d.dt) }

func (c *compiler) derivedField(f *scopeField) {
	e := f.pending
	var x expr
	n := 0
	for _, ch := range e.children {
		if ch.name == "Value" || ignorable[ch.name] {
			continue
		}
		n++
		if n == 1 {
			x = c.expression(ch, f.sc)
		} else {
			c.errs.add(ch, "<DerivedField name=%q> has more than one expression", f.def.name)
		}
	}
	if n == 0 {
		c.errs.add(e, "<DerivedField name=%q> has no expression", f.def.name)
	}
	if x == nil {
		x = constExpr{}
	}
	c.derivers[f.slot] = &derivedField{x: x, dt: f.def.dataType}
}

func (c *compiler) transformationDictionary(td *elem) {
	c.errs.checkChildren(td, "DerivedField", "DefineFunction")
	for _, e := range td.all("DefineFunction") {
		c.declareFunction(e)
	}
	c.functionBodies()
	for _, e := range td.all("DerivedField") {
		c.declare(c.root, e)
	}
}
