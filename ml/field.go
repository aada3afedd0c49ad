package ml

import (
	"math"
	"strconv"
	"strings"
)

// DataType is the PMML dataType of a field.
type DataType uint8

// Supported data types. Date and time types are rejected at load.
const (
	TypeString DataType = iota
	TypeInteger
	TypeFloat
	TypeDouble
	TypeBoolean
	TypeDate
	TypeTime
	TypeDateTime
	TypeDateDaysSince0
	TypeDateDaysSince1960
	TypeDateDaysSince1970
	TypeDateDaysSince1980
	TypeTimeSeconds
	TypeDateTimeSecondsSince0
	TypeDateTimeSecondsSince1960
	TypeDateTimeSecondsSince1970
	TypeDateTimeSecondsSince1980
)

func (d DataType) String() string {
	switch d {
	case TypeInteger:
		return "integer"
	case TypeFloat:
		return "float"
	case TypeDouble:
		return "double"
	case TypeBoolean:
		return "boolean"
	case TypeString:
		return "string"
	}
	return d.dateName()
}

// numeric reports whether values of the type are numbers, counts of days
// and seconds included.
func (d DataType) numeric() bool {
	return d == TypeInteger || d == TypeFloat || d == TypeDouble || d >= TypeDateDaysSince0
}

func parseDataType(s string) (DataType, bool) {
	switch s {
	case "string":
		return TypeString, true
	case "integer":
		return TypeInteger, true
	case "float":
		return TypeFloat, true
	case "double":
		return TypeDouble, true
	case "boolean":
		return TypeBoolean, true
	}
	if dt, ok := dateTypeNames[s]; ok {
		return dt, true
	}
	return 0, false
}

// OpType is the PMML optype of a field.
type OpType uint8

// Operational types.
const (
	Continuous OpType = iota
	Categorical
	Ordinal
)

func (o OpType) String() string {
	switch o {
	case Categorical:
		return "categorical"
	case Ordinal:
		return "ordinal"
	}
	return "continuous"
}

func parseOpType(s string) (OpType, bool) {
	switch s {
	case "continuous":
		return Continuous, true
	case "categorical":
		return Categorical, true
	case "ordinal":
		return Ordinal, true
	}
	return 0, false
}

// Field describes a model input, target or output.
type Field struct {
	Name     string
	OpType   OpType
	DataType DataType
	// Values lists the valid values of a categorical or ordinal field in
	// DataDictionary order; empty when the document does not list them.
	Values []string
}

type interval struct {
	lo, hi         float64
	loOpen, hiOpen bool
}

func (iv interval) contains(x float64) bool {
	if x < iv.lo || x > iv.hi {
		return false
	}
	if iv.loOpen && x == iv.lo || iv.hiOpen && x == iv.hi {
		return false
	}
	return true
}

// fieldDef is the type and domain of a field: a DataField with its value
// lists and intervals, or a derived or output field with its declared types.
type fieldDef struct {
	name     string
	dataType DataType
	opType   OpType
	isData   bool

	values    []Value // valid values, typed, in document order
	labels    []string
	validIdx  map[string]int // canonical text of a valid value → index
	validNum  map[float64]int
	invalid   map[string]bool
	missing   map[string]bool
	intervals []interval
}

func (f *fieldDef) public() Field {
	return Field{Name: f.name, OpType: f.opType, DataType: f.dataType, Values: f.labels}
}

// key is the canonical text of a typed value, used to look values up in the
// value lists: numbers compare by value whatever their spelling.
func key(v Value) string {
	s, _ := v.Text()
	return s
}

// index returns the position of v among the valid values, or -1.
func (f *fieldDef) index(v Value) int {
	if f.validIdx == nil || v.kind == KindMissing {
		return -1
	}
	if v.kind == KindString {
		if i, ok := f.validIdx[v.str]; ok {
			return i
		}
		return -1
	}
	if v.kind == KindNumber && f.validNum != nil {
		if i, ok := f.validNum[v.num]; ok {
			return i
		}
		return -1
	}
	if i, ok := f.validIdx[key(v)]; ok {
		return i
	}
	return -1
}

// parseAs converts an input value to a data type; ok is false when it cannot
// be (an unparsable number, a fraction for an integer field).
func parseAs(v Value, dt DataType) (Value, bool) {
	switch v.kind {
	case KindMissing:
		return v, true
	}
	if dt >= TypeDate {
		return parseDateAs(v, dt)
	}
	switch dt {
	case TypeString:
		if v.kind == KindString {
			return v, true
		}
		s, _ := v.Text()
		return Str(s), true
	case TypeDouble, TypeFloat, TypeInteger:
		f, ok := v.Float()
		if !ok {
			return Value{}, false
		}
		switch dt {
		case TypeFloat:
			f = float64(float32(f))
		case TypeInteger:
			if f != math.Trunc(f) {
				return Value{}, false
			}
		}
		if v.kind == KindNumber && f == v.num {
			return v, true
		}
		return Num(f), true
	case TypeBoolean:
		switch v.kind {
		case KindBool:
			return v, true
		case KindNumber:
			return Bool(v.num != 0), true
		}
		switch strings.ToLower(strings.TrimSpace(v.str)) {
		case "true", "1":
			return Bool(true), true
		case "false", "0":
			return Bool(false), true
		}
		return Value{}, false
	}
	return v, true
}

// castTo converts a computed value to a declared data type, as a derived or
// output field does; numbers are truncated to integers.
func castTo(v Value, dt DataType) Value {
	if dt == TypeInteger && (v.kind == KindNumber) {
		if math.IsInf(v.num, 0) {
			return v
		}
		return Num(math.Trunc(v.num))
	}
	out, ok := parseAs(v, dt)
	if !ok {
		return Value{}
	}
	return out
}

// parseLiteral reads a constant from the document in a field's data type.
func parseLiteral(s string, dt DataType) (Value, bool) {
	return parseAs(Str(s), dt)
}

type validity uint8

const (
	valid validity = iota
	invalidValue
	missingValue
)

// classify converts a raw value to the field's type and sorts it into valid,
// invalid or missing by the DataField's value lists and intervals.
func (f *fieldDef) classify(raw Value) (Value, validity) {
	if raw.kind == KindMissing {
		return raw, missingValue
	}
	if f.missing != nil && f.missing[key(raw)] {
		return Value{}, missingValue
	}
	v, ok := parseAs(raw, f.dataType)
	if !ok {
		if raw.kind == KindString && strings.TrimSpace(raw.str) == "" {
			return Value{}, missingValue
		}
		return raw, invalidValue
	}
	if f.missing != nil && f.missing[key(v)] {
		return Value{}, missingValue
	}
	if f.invalid != nil && f.invalid[key(v)] {
		return v, invalidValue
	}
	if f.opType != Continuous {
		if f.validIdx != nil && f.index(v) < 0 {
			return v, invalidValue
		}
		return v, valid
	}
	if len(f.intervals) > 0 {
		x := v.num
		for _, iv := range f.intervals {
			if iv.contains(x) {
				return v, valid
			}
		}
		if f.index(v) >= 0 {
			return v, valid
		}
		return v, invalidValue
	}
	return v, valid
}

func (c *compiler) dataDictionary(dd *elem) {
	c.errs.checkChildren(dd, "DataField", "Taxonomy")
	for _, e := range dd.all("DataField") {
		f := c.fieldHeader(e, true)
		if f == nil {
			continue
		}
		f.isData = true
		c.errs.checkChildren(e, "Value", "Interval")
		for _, ve := range e.all("Value") {
			text := c.errs.reqAttr(ve, "value")
			v, ok := parseLiteral(text, f.dataType)
			if !ok {
				c.errs.add(ve, "value %q is not a %s", text, f.dataType)
				continue
			}
			switch c.errs.enum(ve, "property", "valid", "invalid", "missing") {
			case "valid":
				if f.validIdx == nil {
					f.validIdx = map[string]int{}
				}
				f.validIdx[key(v)] = len(f.values)
				if v.kind == KindNumber {
					if f.validNum == nil {
						f.validNum = map[float64]int{}
					}
					f.validNum[v.num] = len(f.values)
				}
				f.values = append(f.values, v)
				f.labels = append(f.labels, key(v))
			case "invalid":
				if f.invalid == nil {
					f.invalid = map[string]bool{}
				}
				f.invalid[key(v)] = true
			case "missing":
				if f.missing == nil {
					f.missing = map[string]bool{}
				}
				f.missing[text] = true
				f.missing[key(v)] = true
			}
		}
		for _, ie := range e.all("Interval") {
			iv := interval{lo: math.Inf(-1), hi: math.Inf(1)}
			if _, ok := ie.attr("leftMargin"); ok {
				iv.lo = c.errs.float(ie, "leftMargin", 0)
			}
			if _, ok := ie.attr("rightMargin"); ok {
				iv.hi = c.errs.float(ie, "rightMargin", 0)
			}
			switch c.errs.enum(ie, "closure", "closedClosed", "openClosed", "openOpen", "closedOpen") {
			case "openClosed":
				iv.loOpen = true
			case "openOpen":
				iv.loOpen, iv.hiOpen = true, true
			case "closedOpen":
				iv.hiOpen = true
			}
			if f.opType == Continuous {
				f.intervals = append(f.intervals, iv)
			}
		}
		if _, dup := c.dd[f.name]; dup {
			c.errs.add(e, "DataField %q is defined twice", f.name)
			continue
		}
		c.dd[f.name] = f
		c.ddOrder = append(c.ddOrder, f)
	}
}

// fieldHeader reads name, optype and dataType of a DataField, DerivedField or
// OutputField. An absent optype follows from the data type.
func (c *compiler) fieldHeader(e *elem, needName bool) *fieldDef {
	f := &fieldDef{}
	if needName {
		f.name = c.errs.reqAttr(e, "name")
		if f.name == "" {
			return nil
		}
	} else {
		f.name = e.attrOr("name", "")
	}
	dts, hasDT := e.attr("dataType")
	if hasDT {
		dt, ok := parseDataType(dts)
		if !ok {
			c.errs.add(e, "<%s name=%q> dataType %q is not supported (supported: string, integer, float, double, boolean, date, time, dateTime, dateDaysSince[0|1960|1970|1980], timeSeconds, dateTimeSecondsSince[0|1960|1970|1980])", e.name, f.name, dts)
			return nil
		}
		f.dataType = dt
	} else {
		f.dataType = TypeDouble
	}
	if ots, ok := e.attr("optype"); ok {
		ot, ok := parseOpType(ots)
		if !ok {
			c.errs.add(e, "<%s name=%q> optype %q is not supported", e.name, f.name, ots)
			return nil
		}
		f.opType = ot
	} else if f.dataType == TypeString || f.dataType == TypeBoolean {
		f.opType = Categorical
	} else if f.dataType.isDateText() {
		f.opType = Ordinal
	}
	return f
}

// numText formats a number from the document for a reason string.
func numText(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
