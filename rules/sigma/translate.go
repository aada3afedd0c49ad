package sigma

import (
	"encoding/base64"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/cep-project/cep/rules/celenv"
	"github.com/cep-project/cep/rules/mapping"
)

// maxExpansions bounds the values one Sigma value may expand into
// (windash combinations, base64 offsets).
const maxExpansions = 256

// detectionCEL translates a detection rule's condition for one variant of
// its log source. It returns "" with no refusal when the variant lacks a
// field the rule tests (the variant is left out).
func detectionCEL(r *Rule, v *mapping.Resolved) (string, []string, *Refusal) {
	if len(r.Conditions) > 1 {
		return "", nil, refuse("several conditions", "the rule has %d conditions; cep takes one (split the rule)", len(r.Conditions))
	}
	var ids []string
	byName := map[string]*Search{}
	for _, s := range r.Detection {
		ids = append(ids, s.Name)
		byName[s.Name] = s
	}
	c, ref := parseCondition(r.Conditions[0], ids)
	if ref != nil {
		return "", nil, ref
	}
	t := &translator{v: v, searches: byName, memo: map[string]string{}}
	out, ref := t.cond(c, 0)
	if ref != nil {
		return "", nil, ref
	}
	return out, t.missing, nil
}

type translator struct {
	v        *mapping.Resolved
	searches map[string]*Search
	memo     map[string]string
	// missing are the fields the variant lacks.
	missing []string
}

// cond translates a condition. A test of a field the variant's events do
// not have is false there (as for any missing field), and the constants
// that leaves are folded away, so a variant that cannot match reads false.
func (t *translator) cond(c *cond, depth int) (string, *Refusal) {
	switch c.op {
	case "id":
		if s, ok := t.memo[c.id]; ok {
			return s, nil
		}
		s, ref := t.search(t.searches[c.id])
		if ref != nil {
			return "", ref
		}
		t.memo[c.id] = s
		return s, nil
	case "not":
		x, ref := t.cond(c.args[0], depth+1)
		if ref != nil {
			return "", ref
		}
		switch x {
		case "false":
			return "true", nil
		case "true":
			return "false", nil
		}
		if !isOperand(x) {
			x = "(" + x + ")"
		}
		return "!" + x, nil
	}
	var parts []string
	for _, a := range c.args {
		x, ref := t.cond(a, depth+1)
		if ref != nil {
			return "", ref
		}
		switch {
		case c.op == "and" && x == "false", c.op == "or" && x == "true":
			return x, nil
		case c.op == "and" && x == "true", c.op == "or" && x == "false":
			continue
		}
		parts = append(parts, x)
	}
	if len(parts) == 0 {
		if c.op == "and" {
			return "true", nil
		}
		return "false", nil
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	for i := range parts {
		parts[i] = paren(parts[i])
	}
	sep := " && "
	if c.op == "or" {
		sep = " || "
	}
	if depth == 0 {
		sep = strings.TrimRight(sep, " ") + "\n"
	}
	return strings.Join(parts, sep), nil
}

// paren wraps an expression unless it is one term already.
func paren(s string) string {
	if isAtom(s) {
		return s
	}
	return "(" + s + ")"
}

// isAtom reports whether s can be an operand of && and || as it is: it has
// no && or || (or ?:) outside brackets and string literals.
func isAtom(s string) bool { return !topLevel(s, "&|?/") }

// isOperand reports whether s can follow ! as it is: a selection or call,
// with no operator outside brackets and string literals.
func isOperand(s string) bool { return !topLevel(s, "&|?/ \n=<>!+-*%") }

// topLevel reports whether s has one of chars outside brackets and string
// literals.
func topLevel(s, chars string) bool {
	depth := 0
	inStr := byte(0)
	raw := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inStr != 0 {
			if c == '\\' && !raw && i+1 < len(s) {
				i++
			} else if c == inStr {
				inStr = 0
			}
			continue
		}
		switch c {
		case '"', '\'':
			inStr = c
			// r"..." is raw: a backslash escapes nothing.
			raw = i > 0 && (s[i-1] == 'r' || s[i-1] == 'R') && (i == 1 || !isWordByte(s[i-2]))
		case '(', '[':
			depth++
		case ')', ']':
			depth--
		default:
			if depth == 0 && strings.IndexByte(chars, c) >= 0 {
				return true
			}
		}
	}
	return false
}

func (t *translator) search(s *Search) (string, *Refusal) {
	if s == nil {
		return "", refuse("malformed condition", "unknown search identifier")
	}
	if len(s.Keywords) > 0 {
		return t.keywords(s.Keywords, nil)
	}
	var alts []string
	for _, sel := range s.Any {
		var terms []string
		never := false
		for _, ft := range sel {
			x, ref := t.fieldTest(ft)
			if ref != nil {
				return "", ref
			}
			if x == "false" {
				never = true
				break
			}
			terms = append(terms, paren(x))
		}
		switch {
		case never:
			continue
		case len(terms) == 0:
			return "", refuse("malformed detection", "%s has an empty selection", s.Name)
		case len(terms) == 1:
			alts = append(alts, terms[0])
		default:
			alts = append(alts, strings.Join(terms, " && "))
		}
	}
	switch len(alts) {
	case 0:
		return "false", nil
	case 1:
		return alts[0], nil
	}
	for i := range alts {
		alts[i] = paren(alts[i])
	}
	return strings.Join(alts, " || "), nil
}

// keywords searches every value of the event.
func (t *translator) keywords(vals []Value, mods []string) (string, *Refusal) {
	all := false
	for _, m := range mods {
		switch m {
		case "all":
			all = true
		case "contains":
		default:
			return "", refuse("keyword modifier", "keywords take only contains and all, not %s", m)
		}
	}
	var needles, patterns []string
	for _, v := range vals {
		if v.Kind == 'z' {
			continue
		}
		s := v.Text()
		// Keywords are substrings anyway: leading and trailing * add
		// nothing; a keyword with a wildcard inside is a pattern that
		// some value must contain.
		core := strings.TrimSuffix(strings.TrimPrefix(s, "*"), "*")
		if celenv.HasWildcards(core) {
			patterns = append(patterns, "*"+core+"*")
			continue
		}
		needles = append(needles, unescape(core))
	}
	if len(needles)+len(patterns) == 0 {
		return "", refuse("malformed detection", "empty keywords")
	}
	var terms []string
	if all {
		for _, n := range needles {
			terms = append(terms, "keywords(event, ["+celString(n)+"])")
		}
		for _, p := range patterns {
			terms = append(terms, "keywordsLike(event, ["+celString(p)+"])")
		}
		return strings.Join(terms, " && "), nil
	}
	if len(needles) > 0 {
		terms = append(terms, "keywords(event, "+celList(needles)+")")
	}
	if len(patterns) > 0 {
		terms = append(terms, "keywordsLike(event, "+celList(patterns)+")")
	}
	return strings.Join(terms, " || "), nil
}

var knownModifiers = map[string]bool{
	"contains": true, "startswith": true, "endswith": true, "all": true, "re": true, "i": true, "m": true, "s": true,
	"cidr": true, "base64": true, "base64offset": true, "utf16le": true, "utf16be": true, "utf16": true, "wide": true,
	"windash": true, "exists": true, "fieldref": true, "gt": true, "gte": true, "lt": true, "lte": true, "cased": true,
	"expand": true,
}

// fieldTest translates one field: values entry.
func (t *translator) fieldTest(ft FieldTest) (string, *Refusal) {
	mods := map[string]bool{}
	for _, m := range ft.Modifiers {
		if !knownModifiers[m] {
			return "", refuse("unknown modifier", "modifier %q of %s", m, ft.Field)
		}
		mods[m] = true
	}
	if mods["expand"] {
		return "", refuse("placeholder (expand)", "%s|expand needs placeholder values from a pipeline", ft.Field)
	}
	if ft.Field == "" {
		return t.keywords(ft.Values, ft.Modifiers)
	}
	paths, ok := t.v.Field(ft.Field)
	if !ok {
		t.missing = append(t.missing, ft.Field)
		return "false", nil
	}
	var exprs []string
	for _, p := range paths {
		x, ref := t.fieldAt(celPath(p), ft, mods)
		if ref != nil {
			return "", ref
		}
		exprs = append(exprs, x)
	}
	if len(exprs) == 1 {
		return exprs[0], nil
	}
	// Alternative places of one field: at most one exists in an event.
	for i := range exprs {
		exprs[i] = paren(exprs[i])
	}
	return strings.Join(exprs, " || "), nil
}

// op is the matching operation of a string value.
type op int

const (
	opEq op = iota
	opContains
	opPrefix
	opSuffix
)

func (t *translator) fieldAt(f string, ft FieldTest, mods map[string]bool) (string, *Refusal) {
	vals := ft.Values
	if len(vals) == 0 {
		return "", refuse("malformed detection", "%s has no values", ft.Field)
	}
	join := " || "
	if mods["all"] && len(vals) > 1 {
		join = " && "
	}
	combine := func(terms []string) string {
		if len(terms) == 1 {
			return terms[0]
		}
		for i := range terms {
			terms[i] = paren(terms[i])
		}
		return strings.Join(terms, join)
	}
	switch {
	case mods["exists"]:
		if len(vals) != 1 || vals[0].Kind != 'b' {
			return "", refuse("malformed detection", "%s|exists takes true or false", ft.Field)
		}
		if vals[0].B {
			return hasCEL(f), nil
		}
		return "!" + hasCEL(f), nil
	case mods["fieldref"]:
		var terms []string
		for _, v := range vals {
			other, ok := t.v.Field(v.Text())
			if !ok {
				t.missing = append(t.missing, v.Text())
				return "false", nil
			}
			fn := "iequals"
			switch {
			case mods["contains"]:
				fn = "icontains"
			case mods["startswith"]:
				fn = "istartsWith"
			case mods["endswith"]:
				fn = "iendsWith"
			}
			if mods["cased"] {
				fn = map[string]string{"iequals": "", "icontains": "contains", "istartsWith": "startsWith", "iendsWith": "endsWith"}[fn]
			}
			o := celPath(other[0])
			if fn == "" {
				terms = append(terms, f+" == "+o)
			} else {
				terms = append(terms, f+"."+fn+"(string("+o+"))")
			}
		}
		return combine(terms), nil
	case mods["gt"] || mods["gte"] || mods["lt"] || mods["lte"]:
		sym := map[string]string{"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
		var o string
		for k, s := range sym {
			if mods[k] {
				o = s
			}
		}
		var terms []string
		for _, v := range vals {
			n := v.N
			if v.Kind == 's' {
				var err error
				if n, err = strconv.ParseFloat(v.S, 64); err != nil {
					return "", refuse("malformed detection", "%s|%s needs a number, got %q", ft.Field, strings.Join(ft.Modifiers, "|"), v.S)
				}
			} else if v.Kind != 'n' {
				return "", refuse("malformed detection", "%s needs a number", ft.Field)
			}
			terms = append(terms, f+" "+o+" "+celNumber(n))
		}
		return combine(terms), nil
	case mods["cidr"]:
		var cidrs []string
		for _, v := range vals {
			if _, err := netip.ParsePrefix(v.Text()); err != nil {
				return "", refuse("invalid CIDR", "%s|cidr: %q", ft.Field, v.Text())
			}
			cidrs = append(cidrs, v.Text())
		}
		if mods["all"] {
			var terms []string
			for _, c := range cidrs {
				terms = append(terms, "in_cidr("+f+", "+celString(c)+")")
			}
			return combine(terms), nil
		}
		if len(cidrs) == 1 {
			return "in_cidr(" + f + ", " + celString(cidrs[0]) + ")", nil
		}
		return "in_cidr(" + f + ", " + celList(cidrs) + ")", nil
	case mods["re"]:
		flags := ""
		for _, fl := range []string{"i", "m", "s"} {
			if mods[fl] {
				flags += fl
			}
		}
		var terms []string
		for _, v := range vals {
			pat := v.Text()
			if flags != "" {
				pat = "(?" + flags + ")" + pat
			}
			if _, err := regexp.Compile(pat); err != nil {
				return "", refuse("regex RE2 cannot run", "%s|re: %v", ft.Field, err)
			}
			// A number is matched as its text, as Sigma matches values.
			terms = append(terms, "string("+f+").matches("+celString(pat)+")")
		}
		return combine(terms), nil
	}
	// String matching, with the transforming modifiers.
	o := opEq
	switch {
	case mods["contains"]:
		o = opContains
	case mods["startswith"]:
		o = opPrefix
	case mods["endswith"]:
		o = opSuffix
	}
	cased := mods["cased"]
	encoded := mods["base64"] || mods["base64offset"]
	// Plain values grouped by operation, wildcard patterns apart.
	var plain []string
	var patterns []string
	var others []string
	for _, v := range vals {
		switch v.Kind {
		case 'z':
			others = append(others, "(!"+hasCEL(f)+" || "+f+" == null)")
			continue
		case 'n':
			if o == opEq && !encoded && !mods["windash"] {
				others = append(others, f+" == "+celNumber(v.N))
				continue
			}
		case 'b':
			if o == opEq && !encoded {
				others = append(others, f+".iequals("+celString(v.Text())+")")
				continue
			}
		}
		expanded, ref := expand(v.Text(), ft, mods)
		if ref != nil {
			return "", ref
		}
		for _, e := range expanded {
			if e.wild {
				patterns = append(patterns, e.s)
			} else {
				plain = append(plain, e.s)
			}
		}
	}
	if encoded {
		// base64offset values are contained in the encoded field.
		if mods["base64offset"] {
			o = opContains
		}
	}
	var terms []string
	if mods["all"] {
		for _, p := range plain {
			terms = append(terms, stringTest(f, o, []string{p}, cased))
		}
	} else if len(plain) > 0 {
		terms = append(terms, stringTest(f, o, plain, cased))
	}
	for _, p := range patterns {
		p = wildcardPattern(p, o == opContains || o == opSuffix, o == opContains || o == opPrefix)
		fn := "wildcard"
		if cased {
			fn = "wildcardCased"
		}
		terms = append(terms, f+"."+fn+"("+celString(p)+")")
	}
	terms = append(terms, others...)
	if len(terms) == 0 {
		return "", refuse("malformed detection", "%s has no values", ft.Field)
	}
	return combine(terms), nil
}

// wildcardPattern adds the * of contains, startswith and endswith to a
// Sigma pattern. A literal backslash that would then stand before a * (or
// a backslash) is written \\, so that it stays a backslash: the value
// C:\Temp\ with contains is *C:\Temp\\*, not *C:\Temp\* (a literal star).
func wildcardPattern(v string, head, tail bool) string {
	var b strings.Builder
	if head {
		b.WriteByte('*')
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' {
			b.WriteByte(c)
			continue
		}
		if i+1 < len(v) && (v[i+1] == '*' || v[i+1] == '?' || v[i+1] == '\\') {
			b.WriteByte(c)
			b.WriteByte(v[i+1])
			i++
			continue
		}
		// A lone backslash is literal; double it where it now precedes
		// a wildcard.
		if i+1 == len(v) && tail {
			b.WriteString(`\\`)
			continue
		}
		b.WriteByte(c)
	}
	if tail {
		b.WriteByte('*')
	}
	return b.String()
}

// stringTest is one test of plain (unescaped) values.
func stringTest(f string, o op, vals []string, cased bool) string {
	if cased {
		var terms []string
		for _, v := range vals {
			switch o {
			case opEq:
				terms = append(terms, f+" == "+celString(v))
			case opContains:
				terms = append(terms, f+".contains("+celString(v)+")")
			case opPrefix:
				terms = append(terms, f+".startsWith("+celString(v)+")")
			case opSuffix:
				terms = append(terms, f+".endsWith("+celString(v)+")")
			}
		}
		if len(terms) == 1 {
			return terms[0]
		}
		return "(" + strings.Join(terms, " || ") + ")"
	}
	if len(vals) == 1 {
		fn := [...]string{"iequals", "icontains", "istartsWith", "iendsWith"}[o]
		return f + "." + fn + "(" + celString(vals[0]) + ")"
	}
	fn := [...]string{"iin", "icontainsAny", "istartsWithAny", "iendsWithAny"}[o]
	return f + "." + fn + "(" + celList(vals) + ")"
}

// expanded is one value after the transforming modifiers: plain text, or
// a wildcard pattern in Sigma's escaping.
type expanded struct {
	s    string
	wild bool
}

func expand(s string, ft FieldTest, mods map[string]bool) ([]expanded, *Refusal) {
	wild := celenv.HasWildcards(s)
	encoded := mods["base64"] || mods["base64offset"]
	if wild && (encoded || mods["utf16le"] || mods["utf16be"] || mods["utf16"] || mods["wide"]) {
		return nil, refuse("wildcard in encoded value", "%s: the value %q has wildcards and is to be encoded", ft.Field, s)
	}
	var vals []string
	if wild {
		vals = []string{s}
	} else {
		vals = []string{unescape(s)}
	}
	if mods["windash"] {
		var out []string
		for _, v := range vals {
			w, ok := windash(v)
			if !ok {
				return nil, refuse("too many windash variants", "%s: %q has too many dashes", ft.Field, s)
			}
			out = append(out, w...)
		}
		vals = out
	}
	if encoded {
		var out []string
		for _, v := range vals {
			b := []byte(v)
			switch {
			case mods["utf16le"] || mods["wide"]:
				b = utf16Bytes(v, false)
			case mods["utf16be"]:
				b = utf16Bytes(v, true)
			case mods["utf16"]:
				b = append([]byte{0xFF, 0xFE}, utf16Bytes(v, false)...)
			}
			if mods["base64offset"] {
				out = append(out, base64Offsets(b)...)
			} else {
				out = append(out, base64.StdEncoding.EncodeToString(b))
			}
		}
		vals = out
	} else if mods["utf16le"] || mods["utf16be"] || mods["utf16"] || mods["wide"] {
		return nil, refuse("utf16 without base64", "%s: utf16 encodings are only meaningful under base64 or base64offset", ft.Field)
	}
	if len(vals) > maxExpansions {
		return nil, refuse("too many windash variants", "%s: %d values", ft.Field, len(vals))
	}
	out := make([]expanded, len(vals))
	for i, v := range vals {
		out[i] = expanded{s: v, wild: wild}
	}
	return out, nil
}

// unescape resolves Sigma's escapes in a value without wildcards: \* \?
// and \\ stand for the character; any other backslash is itself.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\') {
			b.WriteByte(s[i+1])
			i++
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// windashChars are the characters Windows command lines accept where a
// dash introduces an option.
var windashChars = []string{"-", "/", "\u2013", "\u2014", "\u2015"}

// windash expands each - or / that starts an option (after a space or at
// the start, before a letter or digit) into every windash character.
func windash(s string) ([]string, bool) {
	var spots []int
	for i := 0; i < len(s); i++ {
		if s[i] != '-' && s[i] != '/' {
			continue
		}
		prevOK := i == 0 || !isWordByte(s[i-1])
		nextOK := i+1 < len(s) && isWordByte(s[i+1])
		if prevOK && nextOK {
			spots = append(spots, i)
		}
	}
	if len(spots) == 0 {
		return []string{s}, true
	}
	if math.Pow(float64(len(windashChars)), float64(len(spots))) > maxExpansions {
		return nil, false
	}
	out := []string{""}
	last := 0
	for _, sp := range spots {
		var next []string
		for _, prefix := range out {
			for _, c := range windashChars {
				next = append(next, prefix+s[last:sp]+c)
			}
		}
		out = next
		last = sp + 1
	}
	for i := range out {
		out[i] += s[last:]
	}
	return out, true
}

func isWordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func utf16Bytes(s string, bigEndian bool) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u))
	for _, x := range u {
		if bigEndian {
			b = append(b, byte(x>>8), byte(x))
		} else {
			b = append(b, byte(x), byte(x>>8))
		}
	}
	return b
}

// base64Offsets are the three encodings of b as it may appear at any
// offset inside a longer base64 text: the characters that do not depend
// on the neighbouring bytes.
func base64Offsets(b []byte) []string {
	var out []string
	for i := 0; i < 3; i++ {
		padded := append(make([]byte, i), b...)
		enc := base64.StdEncoding.EncodeToString(padded)
		start := [...]int{0, 2, 3}[i]
		end := len(enc) - [...]int{0, 3, 2}[(len(b)+i)%3]
		if start < end {
			out = append(out, enc[start:end])
		}
	}
	return out
}

// hasCEL tests the presence of a path rendered by celPath: has() takes
// only a member selection, so event["a-b"] is tested as "a-b" in event.
func hasCEL(f string) string {
	if strings.HasSuffix(f, "]") {
		i := strings.LastIndex(f, "[")
		return "(" + f[i+1:len(f)-1] + " in " + f[:i] + ")"
	}
	return "has(" + f + ")"
}

// celPath renders a dotted raw path as CEL: event.A.B, or event["a b"]
// for names CEL cannot spell.
func celPath(p string) string {
	var b strings.Builder
	b.WriteString("event")
	for _, part := range strings.Split(p, ".") {
		if isIdent(part) {
			b.WriteString(".")
			b.WriteString(part)
		} else {
			b.WriteString("[")
			b.WriteString(celString(part))
			b.WriteString("]")
		}
	}
	return b.String()
}

var celReserved = map[string]bool{
	"true": true, "false": true, "null": true, "in": true, "as": true, "break": true, "const": true, "continue": true,
	"else": true, "for": true, "function": true, "if": true, "import": true, "let": true, "loop": true, "package": true,
	"namespace": true, "return": true, "var": true, "void": true, "while": true,
}

func isIdent(s string) bool {
	if s == "" || celReserved[s] {
		return false
	}
	for i, r := range s {
		if r == '_' || r < utf8.RuneSelf && unicode.IsLetter(r) || i > 0 && r >= '0' && r <= '9' {
			continue
		}
		return false
	}
	return true
}

// celString renders a string literal: a raw string when the text allows
// it (Windows paths stay readable), else an escaped one.
func celString(s string) string {
	printable := true
	for _, r := range s {
		if r < 0x20 || r == 0x7f || !unicode.IsPrint(r) && r != ' ' {
			printable = false
			break
		}
	}
	if printable && strings.Contains(s, `\`) {
		if !strings.Contains(s, `"`) {
			return `r"` + s + `"`
		}
		if !strings.Contains(s, `'`) {
			return `r'` + s + `'`
		}
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f || !unicode.IsPrint(r) && r != ' ':
			if r <= 0xFFFF {
				fmt.Fprintf(&b, `\u%04x`, r)
			} else {
				fmt.Fprintf(&b, `\U%08x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func celList(vals []string) string {
	vals = slices.Clone(vals)
	sort.Strings(vals)
	vals = slices.Compact(vals)
	parts := make([]string, len(vals))
	for i, v := range vals {
		parts[i] = celString(v)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func celNumber(n float64) string {
	if n == math.Trunc(n) && math.Abs(n) < 1e15 {
		return strconv.FormatInt(int64(n), 10)
	}
	s := strconv.FormatFloat(n, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return s
}

// whereCEL renders a mapping variant's own conditions.
func whereCEL(v *mapping.Resolved) string {
	var terms []string
	for _, c := range v.Where {
		var alts []string
		for _, p := range v.WhereField(c.Field) {
			f := celPath(p)
			var strs, nums, parts []string
			for _, val := range c.Values {
				switch x := val.(type) {
				case string:
					strs = append(strs, x)
				case float64:
					nums = append(nums, celNumber(x))
				case bool:
					parts = append(parts, f+" == "+strconv.FormatBool(x))
				}
			}
			switch len(nums) {
			case 0:
			case 1:
				parts = append(parts, f+" == "+nums[0])
			default:
				parts = append(parts, f+" in ["+strings.Join(nums, ", ")+"]")
			}
			if len(strs) > 0 {
				parts = append(parts, stringTest(f, opEq, strs, false))
			}
			alts = append(alts, orTerms(parts))
		}
		terms = append(terms, orTerms(alts))
	}
	return strings.Join(terms, " && ")
}

func orTerms(parts []string) string {
	if len(parts) == 1 {
		return parts[0]
	}
	return "(" + strings.Join(parts, " || ") + ")"
}
