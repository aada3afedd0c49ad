package celenv

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// Matching that fits security data: Windows paths, registry keys, command
// lines and channel names are case-insensitive, and detection languages
// (Sigma, EQL) compare values without regard to case and with * and ?
// wildcards. The helpers here do that without allocating per event: needles
// are folded once, when a rule loads, and haystacks are folded on the fly.

// foldNeedle is a needle prepared for case-insensitive search: its lower
// case form, and whether it is ASCII (then byte-wise comparison is exact).
type foldNeedle struct {
	s     string // as written
	lower string // folded: ASCII lower case, or unicode.ToLower per rune
	ascii bool
	// bytewise: the needle is ASCII or its other runes have no case
	// (dashes, quotes: Sigma writes -enc also as –enc and —enc), so
	// that comparing ASCII-folded bytes is exact where the haystack has
	// no rune that folds onto an ASCII letter (see index).
	bytewise bool
	// anyHay: the needle is bytewise without k or s, the only letters a
	// rune outside ASCII folds to (the Kelvin sign, the long s), so
	// comparing ASCII-folded bytes is exact on any haystack, which then
	// need not be scanned for non-ASCII bytes first.
	anyHay bool
	// rare is the offset in lower of its byte least common in logs,
	// which a search looks for first (see indexASCIIFoldAt).
	rare int
}

func newFoldNeedle(s string) foldNeedle {
	if isASCII(s) {
		l := asciiLower(s)
		return foldNeedle{s: s, lower: l, ascii: true, bytewise: true, anyHay: !strings.ContainsAny(l, "ks"), rare: rarest(l)}
	}
	n := foldNeedle{s: s, lower: strings.ToLower(s)}
	if automatable(s) {
		// Its runes outside ASCII fold onto nothing else, so its bytes,
		// ASCII letters lowered, are what it matches, and anyHay holds
		// as for an ASCII needle. Not ToLower's: that maps the dotted
		// capital I, which folds onto no other rune, to i.
		n.lower = asciiLower(s)
		n.bytewise, n.anyHay, n.rare = true, !strings.ContainsAny(n.lower, "ks"), rarest(n.lower)
	}
	return n
}

// byteRank ranks bytes by how common they are in command lines, paths
// and messages, lower case: 0 for the rarest, up to len(common).
var byteRank = func() (r [256]uint8) {
	for i := range len(commonBytes) {
		r[commonBytes[i]] = uint8(i + 1)
	}
	return r
}()

// commonBytes are bytes of logs, the most common last.
const commonBytes = "[]!#&*+;?'<>,()_%=\"9876543210jqzkvybg:f/x-wuhpmdcl.rsnioa\\te "

// rarest returns the offset of lower's least common byte, the first of
// equals.
func rarest(lower string) int {
	k := 0
	for i := 1; i < len(lower); i++ {
		if byteRank[lower[i]] < byteRank[lower[k]] {
			k = i
		}
	}
	return k
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; 'A' <= c && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

func lowerByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// asciiEqualLower reports whether s equals the lower-case ASCII text lower,
// ignoring the case of s.
func asciiEqualLower(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	// Eight bytes at a time: the image's last bytes that a thousand
	// rules' iendsWith compare (`\rundll32.exe`) are a word or two.
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if lowerWord(le64(s[i:])) != le64(lower[i:]) {
			return false
		}
	}
	for ; i < len(s); i++ {
		if lowerByte(s[i]) != lower[i] {
			return false
		}
	}
	return true
}

// lowerWord is lowerByte of each of a word's eight bytes. A byte's low
// seven bits plus 0x80-'A' carry into its high bit when they are 'A' or
// more, plus 0x80-'Z'-1 when they are past 'Z' (neither sum reaches the
// next byte); a letter is a byte under 0x80 with the first and not the
// second, and gains 0x20.
func lowerWord(w uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	low := w &^ highs
	fromA := low + (0x80-'A')*ones
	pastZ := low + (0x80-'Z'-1)*ones
	upper := fromA &^ pastZ &^ w & highs
	return w | upper>>2
}

func (n *foldNeedle) equal(s string) bool {
	if n.anyHay {
		return asciiEqualLower(s, n.lower)
	}
	if n.ascii && isASCII(s) {
		return asciiEqualLower(s, n.lower)
	}
	return strings.EqualFold(s, n.s)
}

func (n *foldNeedle) prefixOf(s string) bool {
	if n.ascii {
		if len(s) < len(n.lower) {
			return false
		}
		if asciiEqualLower(s[:len(n.lower)], n.lower) {
			return true
		}
		if n.anyHay || isASCII(s[:len(n.lower)]) {
			return false
		}
	}
	return hasPrefixFold(s, n.s)
}

func (n *foldNeedle) suffixOf(s string) bool {
	if n.ascii {
		if len(s) < len(n.lower) {
			return false
		}
		if asciiEqualLower(s[len(s)-len(n.lower):], n.lower) {
			return true
		}
		if n.anyHay || isASCII(s[len(s)-len(n.lower):]) {
			return false
		}
	}
	return hasSuffixFold(s, n.s)
}

func (n *foldNeedle) in(s string) bool { return n.index(s) >= 0 }

// index is the byte offset of the first match in s, or -1.
func (n *foldNeedle) index(s string) int {
	if n.anyHay || n.bytewise && !foldsOntoASCII(s) {
		return indexASCIIFoldAt(s, n.lower, n.rare)
	}
	for i := 0; i < len(s); {
		if _, ok := n.at(s[i:]); ok {
			return i
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		i += w
	}
	if n.s == "" {
		return 0
	}
	return -1
}

// foldsOntoASCII reports whether s may hold a rune outside ASCII that
// folds onto an ASCII letter: the Kelvin sign (E2 84 AA) or the long s
// (C5 BF). Without one, a bytewise needle's matches in s are matches of
// its bytes, ASCII-folded, whatever else s holds: other runes fold onto
// runes outside ASCII, and their bytes, all 0x80 or more, meet no ASCII
// byte of the needle, and the needle's other runes fold onto nothing
// else. Two searches for their first bytes run in the processor's
// vector units; isASCII read a PowerShell payload of 10 KB a word at a
// time for every needle with a k or an s.
func foldsOntoASCII(s string) bool {
	return strings.IndexByte(s, 0xE2) >= 0 || strings.IndexByte(s, 0xC5) >= 0
}

// at reports whether s starts with the needle, and how many bytes of s
// it took.
func (n *foldNeedle) at(s string) (int, bool) {
	if n.ascii {
		if len(s) < len(n.lower) {
			return 0, false
		}
		if asciiEqualLower(s[:len(n.lower)], n.lower) {
			return len(n.lower), true
		}
		if n.anyHay || isASCII(s[:len(n.lower)]) {
			return 0, false
		}
	}
	i, rest := 0, n.s
	for rest != "" {
		if i >= len(s) {
			return 0, false
		}
		r1, w1 := utf8.DecodeRuneInString(s[i:])
		r2, w2 := utf8.DecodeRuneInString(rest)
		if !equalFoldRune(r1, r2) {
			return 0, false
		}
		i += w1
		rest = rest[w2:]
	}
	return i, true
}

// indexASCIIFold finds lower (ASCII, lower case) in s (ASCII) ignoring case.
func indexASCIIFold(s, lower string) int { return indexASCIIFoldAt(s, lower, 0) }

// indexASCIIFoldAt is indexASCIIFold looking first for lower's byte at
// offset k. Candidates are the positions of that byte in either case; the
// next of each is found with IndexByte and kept until passed, so that s is
// scanned once per case, not once per candidate: a command line of 2 KB
// holds hundreds of one and none of the other. A needle's rarest byte
// (rarest) gives the fewest candidates: " -enc" has one for each space
// at its first byte, and few at its c.
func indexASCIIFoldAt(s, lower string, k int) int {
	n := len(lower)
	if n == 0 {
		return 0
	}
	if n > len(s) {
		return -1
	}
	first := lower[k]
	upper := first
	if 'a' <= first && first <= 'z' {
		upper = first - 'a' + 'A'
	}
	// starts[i] is the byte at offset k of a match starting at i.
	starts := s[k : len(s)-n+1+k]
	next := func(c byte, from int) int {
		if from >= len(starts) {
			return -1
		}
		if k := strings.IndexByte(starts[from:], c); k >= 0 {
			return from + k
		}
		return -1
	}
	nl, nu := next(first, 0), -1
	if upper != first {
		nu = next(upper, 0)
	}
	for {
		i := nl
		if i < 0 || (nu >= 0 && nu < i) {
			i = nu
		}
		if i < 0 {
			return -1
		}
		if asciiEqualLower(s[i:i+n], lower) {
			return i
		}
		if i == nl {
			nl = next(first, i+1)
		}
		if i == nu {
			nu = next(upper, i+1)
		}
	}
}

// hasPrefixFold reports whether s starts with prefix under Unicode simple
// case folding, comparing rune by rune.
func hasPrefixFold(s, prefix string) bool {
	for prefix != "" {
		if s == "" {
			return false
		}
		r1, w1 := utf8.DecodeRuneInString(s)
		r2, w2 := utf8.DecodeRuneInString(prefix)
		if !equalFoldRune(r1, r2) {
			return false
		}
		s, prefix = s[w1:], prefix[w2:]
	}
	return true
}

func hasSuffixFold(s, suffix string) bool {
	for suffix != "" {
		if s == "" {
			return false
		}
		r1, w1 := utf8.DecodeLastRuneInString(s)
		r2, w2 := utf8.DecodeLastRuneInString(suffix)
		if !equalFoldRune(r1, r2) {
			return false
		}
		s, suffix = s[:len(s)-w1], suffix[:len(suffix)-w2]
	}
	return true
}

func equalFoldRune(a, b rune) bool {
	if a == b {
		return true
	}
	if a < utf8.RuneSelf && b < utf8.RuneSelf {
		return lowerByte(byte(a)) == lowerByte(byte(b))
	}
	for r := unicode.SimpleFold(a); r != a; r = unicode.SimpleFold(r) {
		if r == b {
			return true
		}
	}
	return false
}

// Wildcard is a compiled Sigma/EQL wildcard pattern: * matches any run of
// characters (also none), ? exactly one character, and a backslash escapes
// *, ? and itself; a backslash before anything else is a plain backslash,
// so Windows paths need no doubling (C:\Windows\*.exe). Matching ignores
// case unless the pattern was compiled cased.
type Wildcard struct {
	pattern string
	cased   bool
	// The common shapes are answered without the general matcher.
	shape shape
	lit   foldNeedle // the literal of equal/prefix/suffix/contains shapes
	// toks is the pattern for the general matcher.
	toks []wtok
}

type shape uint8

const (
	shapeGeneral  shape = iota
	shapeEqual          // lit
	shapePrefix         // lit*
	shapeSuffix         // *lit
	shapeContains       // *lit*
	shapeAny            // * (also **)
)

type wtok struct {
	kind byte // 'l' literal, '?' one rune, '*' any run
	lit  string
	low  foldNeedle
}

// CompileWildcard compiles a wildcard pattern; cased makes it
// case-sensitive.
func CompileWildcard(pattern string, cased bool) *Wildcard {
	w := &Wildcard{pattern: pattern, cased: cased}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			s := lit.String()
			w.toks = append(w.toks, wtok{kind: 'l', lit: s, low: newFoldNeedle(s)})
			lit.Reset()
		}
	}
	for i := 0; i < len(pattern); i++ {
		switch c := pattern[i]; c {
		case '\\':
			if i+1 < len(pattern) && (pattern[i+1] == '*' || pattern[i+1] == '?' || pattern[i+1] == '\\') {
				lit.WriteByte(pattern[i+1])
				i++
				continue
			}
			lit.WriteByte(c)
		case '*':
			flush()
			if n := len(w.toks); n == 0 || w.toks[n-1].kind != '*' {
				w.toks = append(w.toks, wtok{kind: '*'})
			}
		case '?':
			flush()
			w.toks = append(w.toks, wtok{kind: '?'})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	t := w.toks
	switch {
	case len(t) == 0:
		w.shape, w.lit = shapeEqual, newFoldNeedle("")
	case len(t) == 1 && t[0].kind == 'l':
		w.shape, w.lit = shapeEqual, t[0].low
	case len(t) == 1 && t[0].kind == '*':
		w.shape = shapeAny
	case len(t) == 2 && t[0].kind == 'l' && t[1].kind == '*':
		w.shape, w.lit = shapePrefix, t[0].low
	case len(t) == 2 && t[0].kind == '*' && t[1].kind == 'l':
		w.shape, w.lit = shapeSuffix, t[1].low
	case len(t) == 3 && t[0].kind == '*' && t[1].kind == 'l' && t[2].kind == '*':
		w.shape, w.lit = shapeContains, t[1].low
	}
	return w
}

// String returns the pattern as written.
func (w *Wildcard) String() string { return w.pattern }

// Match reports whether s matches the whole pattern.
func (w *Wildcard) Match(s string) bool {
	if w.cased {
		switch w.shape {
		case shapeEqual:
			return s == w.lit.s
		case shapePrefix:
			return strings.HasPrefix(s, w.lit.s)
		case shapeSuffix:
			return strings.HasSuffix(s, w.lit.s)
		case shapeContains:
			return strings.Contains(s, w.lit.s)
		case shapeAny:
			return true
		}
		return matchToks(w.toks, s, true)
	}
	switch w.shape {
	case shapeEqual:
		return w.lit.equal(s)
	case shapePrefix:
		return w.lit.prefixOf(s)
	case shapeSuffix:
		return w.lit.suffixOf(s)
	case shapeContains:
		return w.lit.in(s)
	case shapeAny:
		return true
	}
	return matchToks(w.toks, s, false)
}

// matchToks is the general matcher: literals and ? advance, and a * tries
// the shortest run first, returning to the last * on a mismatch. Only the
// last * is ever resumed, since any later literal found further right can
// be found by that star as well; the work is O(len(s) × len(toks)) at
// worst and linear for patterns whose literals do not repeat.
func matchToks(toks []wtok, s string, cased bool) bool {
	ti, si := 0, 0
	starTi, starSi := -1, 0
	for {
		if ti == len(toks) {
			if si == len(s) {
				return true
			}
		} else {
			t := &toks[ti]
			switch t.kind {
			case '*':
				starTi, starSi = ti, si
				ti++
				continue
			case '?':
				if si < len(s) {
					_, w := utf8.DecodeRuneInString(s[si:])
					si += w
					ti++
					continue
				}
			case 'l':
				if n, ok := litAt(t, s[si:], cased); ok {
					si += n
					ti++
					continue
				}
			}
		}
		if starTi < 0 || starSi >= len(s) {
			return false
		}
		// Let the last star take one more character and retry after it;
		// when a literal follows the star, skip straight to its next
		// occurrence.
		_, w := utf8.DecodeRuneInString(s[starSi:])
		starSi += w
		if next := starTi + 1; next < len(toks) && toks[next].kind == 'l' {
			j := indexTok(&toks[next], s[starSi:], cased)
			if j < 0 {
				return false
			}
			starSi += j
		}
		ti, si = starTi+1, starSi
	}
}

func indexTok(t *wtok, s string, cased bool) int {
	if cased {
		return strings.Index(s, t.lit)
	}
	return t.low.index(s)
}

// litAt reports whether s starts with the token's literal and how many
// bytes of s it took (folding can change byte lengths outside ASCII).
func litAt(t *wtok, s string, cased bool) (int, bool) {
	if cased {
		return len(t.lit), strings.HasPrefix(s, t.lit)
	}
	return t.low.at(s)
}

// HasWildcards reports whether a Sigma value holds an unescaped * or ?.
func HasWildcards(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) && (s[i+1] == '*' || s[i+1] == '?' || s[i+1] == '\\') {
				i++
			}
		case '*', '?':
			return true
		}
	}
	return false
}

// canonicalNumber reports whether s is the text cep renders for a number
// (4624, -1, 2.5), and that number: under lenient_numbers such a string
// field compares with number literals as the number.
func canonicalNumber(s string) (float64, bool) {
	if s == "" || len(s) > 32 {
		return 0, false
	}
	c := s[0]
	if (c < '0' || c > '9') && c != '-' {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false
	}
	if strconv.FormatFloat(f, 'f', -1, 64) != s {
		return 0, false
	}
	return f, true
}

// automatable reports whether a needle can go into the automaton, which
// folds ASCII letters only and compares other bytes as they are: every
// rune is ASCII or has no other case (punctuation, dashes, emoji, CJK).
// Nor may it hold U+FFFD, written or as a byte that is not UTF-8:
// compared rune by rune, as strings.EqualFold compares, every invalid
// byte reads as U+FFFD, so that such a needle matches bytes other than
// its own.
func automatable(s string) bool {
	for _, r := range s {
		if r >= utf8.RuneSelf && (r == utf8.RuneError || unicode.SimpleFold(r) != r) {
			return false
		}
	}
	return true
}

// multiNeedle finds any of many needles in one pass: an Aho-Corasick
// automaton over ASCII-folded bytes, so that icontainsAny over a Sigma list
// of a hundred values reads the field once instead of a hundred times.
// Needles outside ASCII are searched one by one.
type multiNeedle struct {
	acTrie
	// starts marks the bytes that can leave the root: those with a
	// transition in either case, and every byte of a multi-byte rune
	// (folding may map one onto a letter). At the root, a scan skips the
	// others in a tight loop: in long command lines and messages most
	// bytes start no needle.
	starts [256]bool
	out    []bool
	empty  bool // an empty needle matches everything
	other  []foldNeedle
	// longest is the length of the longest needle in the automaton;
	// rareStarts is set when no byte among the commonest in logs
	// starts one, so that the skipping of bytes at the root pays (see
	// inDFA).
	longest    int
	rareStarts bool
	// dfa, when set, is the automaton with its failure links followed
	// ahead: one table lookup a byte (see buildDFA).
	dfa *acDFA
}

// acDFA is a multiNeedle's automaton as a table: next[s+class[b]] is the
// state after byte b in state s, a state being the offset of its row (its
// number times classes), so that a step is an add and a load, where a
// multiplication by classes lay on every byte's dependent path
// (BenchmarkMatch/icontainsAny: 268 -> 196 ns; SigmaHQ's 2,407 Windows
// rules take 2.7 MiB more, 107 MiB compiled). A search stops at the first
// needle found, so the states where one ends are one, accept, the last,
// whose row nothing reads: a step compares the state it loaded, where it
// loaded whether that state accepts. Bytes that label no transition share
// class 0, and a byte's class is its lower case's, so the table stays
// small: a list of a dozen Windows paths has some thirty classes.
type acDFA struct {
	class   [256]uint8
	classes int
	accept  int // accept's offset
	// off16 holds the table of an automaton of at most 64 Ki cells, most
	// of them; off32 the others'.
	off16 []uint16
	off32 []uint32
}

// maxDFACells bounds a table (256 Ki cells, at most 512 KiB): a list of
// thousands of long needles keeps its transitions sparse. In SigmaHQ's
// Windows rules all but two of some 1,200 lists fit, in some 5 MB.
const maxDFACells = 1 << 18

type acEdge struct {
	b  byte
	to int32
}

// automata shares the automata of literal lists between the programs of a
// rule set: the fast path and CEL's plan of one expression, and the
// variants of an imported Sigma rule, hold the same lists. Automata are
// read-only once built. The cache stops growing at maxAutomata lists, so
// reloads of ever-new lists cannot grow it without bound.
var (
	automata     sync.Map // joined needles → *multiNeedle
	automataSize atomic.Int64
)

const maxAutomata = 1 << 16

// sharedMultiNeedle returns the automaton of a literal list, built once.
func sharedMultiNeedle(needles []foldNeedle) *multiNeedle {
	var b strings.Builder
	for _, n := range needles {
		b.WriteString(n.s)
		b.WriteByte(0)
	}
	key := b.String()
	if m, ok := automata.Load(key); ok {
		return m.(*multiNeedle)
	}
	m := newMultiNeedle(needles)
	if automataSize.Load() < maxAutomata {
		if prev, loaded := automata.LoadOrStore(key, m); loaded {
			return prev.(*multiNeedle)
		}
		automataSize.Add(1)
	}
	return m
}

func newMultiNeedle(needles []foldNeedle) *multiNeedle {
	m := &multiNeedle{acTrie: newACTrie()}
	m.out = []bool{false}
	for _, n := range needles {
		switch {
		case n.s == "":
			m.empty = true
			continue
		case !automatable(n.s):
			m.other = append(m.other, n)
			continue
		}
		end := m.insert(n.lower)
		m.longest = max(m.longest, len(n.lower))
		for len(m.out) < len(m.edges) {
			m.out = append(m.out, false)
		}
		m.out[end] = true
	}
	m.starts = m.startBytes()
	m.rareStarts = true
	for b := range 128 {
		if m.starts[b] && byteRank[b] > byte(len(commonBytes))-16 {
			m.rareStarts = false
		}
	}
	m.link(func(s int32) { m.out[s] = m.out[s] || m.out[m.fail[s]] })
	m.buildDFA()
	return m
}

// acTrie is an Aho–Corasick automaton over ASCII-folded bytes before it
// is tabulated: a trie of needles with failure links.
type acTrie struct {
	root  [256]int32 // transitions of the root, dense: every scan starts there
	edges [][]acEdge // transitions of the other states, sorted by byte
	fail  []int32
}

func newACTrie() acTrie {
	t := acTrie{edges: [][]acEdge{nil}, fail: []int32{0}}
	for i := range t.root {
		t.root[i] = -1
	}
	return t
}

// next is the trie's transition from s on c, or -1.
func (t *acTrie) next(s int32, c byte) int32 {
	if s == 0 {
		return t.root[c]
	}
	for _, e := range t.edges[s] {
		if e.b == c {
			return e.to
		}
	}
	return -1
}

// insert adds a folded needle and returns the state where it ends.
func (t *acTrie) insert(lower string) int32 {
	s := int32(0)
	for i := 0; i < len(lower); i++ {
		c := lower[i]
		n := t.next(s, c)
		if n < 0 {
			n = int32(len(t.edges))
			t.edges = append(t.edges, nil)
			t.fail = append(t.fail, 0)
			if s == 0 {
				t.root[c] = n
			} else {
				t.edges[s] = append(t.edges[s], acEdge{c, n})
			}
		}
		s = n
	}
	return s
}

// link sets the failure links, breadth first (a state's failure is the
// longest proper suffix of its text that is also a prefix of a needle),
// and calls linked with each state once its link is set, its failure
// state's before it.
func (t *acTrie) link(linked func(s int32)) {
	var queue []int32
	for c := 0; c < 256; c++ {
		if n := t.root[c]; n > 0 {
			queue = append(queue, n)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, e := range t.edges[s] {
			f := t.fail[s]
			for f != 0 && t.next(f, e.b) < 0 {
				f = t.fail[f]
			}
			if n := t.next(f, e.b); n >= 0 && n != e.to {
				t.fail[e.to] = n
			}
			linked(e.to)
			queue = append(queue, e.to)
		}
	}
}

// startBytes marks the bytes that can leave the root (see
// multiNeedle.starts).
func (t *acTrie) startBytes() (starts [256]bool) {
	for b := range starts {
		starts[b] = b >= utf8.RuneSelf || t.root[lowerByte(byte(b))] >= 0
	}
	return starts
}

// byteClasses gives the bytes that label a transition a class each, from
// 1, the others 0, and a byte the class of its lower case (the automaton
// reads lower case); rep holds a byte of each class. ok is false past
// 255 classes.
func (t *acTrie) byteClasses() (class [256]uint8, classes int, rep []byte, ok bool) {
	var used [256]bool
	for b, n := range t.root {
		if n >= 0 {
			used[b] = true
		}
	}
	for _, es := range t.edges {
		for _, e := range es {
			used[e.b] = true
		}
	}
	classes, rep = 1, []byte{0}
	for b := range used {
		if used[b] {
			if classes == 256 {
				return class, 0, nil, false
			}
			class[b] = uint8(classes)
			rep = append(rep, byte(b))
			classes++
		}
	}
	for b := range class {
		class[b] = class[lowerByte(byte(b))]
	}
	return class, classes, rep, true
}

// buildDFA tabulates the automaton when the table is small enough.
func (m *multiNeedle) buildDFA() {
	if len(m.edges) <= 1 {
		return
	}
	class, classes, rep, ok := m.byteClasses()
	if !ok || len(m.edges)*classes > maxDFACells {
		return
	}
	d := &acDFA{class: class, classes: classes}
	// States keep their order, but those where a needle ends are merged
	// into accept, numbered last.
	num := make([]int32, len(m.edges))
	rows := int32(0)
	for st := range m.edges {
		if !m.out[st] {
			num[st] = rows
			rows++
		}
	}
	for st := range m.edges {
		if m.out[st] {
			num[st] = rows
		}
	}
	if int(rows+1)*d.classes <= 1<<16 {
		d.off16 = tabulate[uint16](&m.acTrie, d, rep, num, int(rows), m.out)
	} else {
		d.off32 = tabulate[uint32](&m.acTrie, d, rep, num, int(rows), m.out)
	}
	d.accept = int(rows) * d.classes
	m.dfa = d
}

// tabulate fills d's table of rows rows, breadth first from the root,
// each state s in row num[s], given as its row's offset; the accepting
// states (out) get no row, merged into one that nothing reads. A state's
// failure state, shallower, is done first, so a missing transition copies
// the failure state's; a state that does not accept fails to one that
// does not either (a needle that ends at the failure state ends here
// too), so the row copied is filled.
func tabulate[T uint16 | uint32](t *acTrie, d *acDFA, rep []byte, num []int32, rows int, out []bool) []T {
	class, classes := &d.class, d.classes
	next := make([]T, rows*classes)
	var queue []int32
	for c := 1; c < classes; c++ {
		if n := t.root[rep[c]]; n > 0 {
			next[c] = T(int(num[n]) * classes)
			queue = append(queue, n)
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		for _, e := range t.edges[s] {
			queue = append(queue, e.to)
		}
		if out[s] {
			continue
		}
		row := next[int(num[s])*classes:][:classes]
		copy(row, next[int(num[t.fail[s]])*classes:][:classes])
		for _, e := range t.edges[s] {
			row[class[e.b]] = T(int(num[e.to]) * classes)
		}
	}
	return next
}

func (m *multiNeedle) in(s string) bool {
	if m.empty {
		return true
	}
	if d := m.dfa; d != nil {
		if m.inDFA(d, s) {
			return true
		}
	} else if len(m.edges) > 1 {
		st := int32(0)
		for i := 0; i < len(s); i++ {
			if st == 0 {
				for i < len(s) && !m.starts[s[i]] {
					i++
				}
				if i == len(s) {
					break
				}
			}
			c := lowerByte(s[i])
			if c >= utf8.RuneSelf {
				// Unicode folding maps two runes onto ASCII letters:
				// the Kelvin sign is k and the long s is s. Other
				// runes go in as their bytes: the automaton holds only
				// runes that fold to nothing else.
				switch r, w := utf8.DecodeRuneInString(s[i:]); r {
				case '\u212A':
					c = 'k'
					i += w - 1
				case '\u017F':
					c = 's'
					i += w - 1
				}
			}
			for {
				var t int32 = -1
				if st == 0 {
					t = m.root[c]
				} else {
					for _, e := range m.edges[st] {
						if e.b == c {
							t = e.to
							break
						}
					}
				}
				if t >= 0 {
					st = t
					break
				}
				if st == 0 {
					break
				}
				st = m.fail[st]
			}
			if m.out[st] {
				return true
			}
		}
	}
	for i := range m.other {
		if m.other[i].in(s) {
			return true
		}
	}
	return false
}

// inDFA is in's automaton over the table: what in does, a byte at a time,
// without following failure links.
func (m *multiNeedle) inDFA(d *acDFA, s string) bool {
	if !m.rareStarts && len(s) >= minPaired && len(s)/2 >= m.longest && !foldsOntoASCII(s) {
		if d.off16 != nil {
			return scanPaired(d, d.off16, s, m.longest)
		}
		return scanPaired(d, d.off32, s, m.longest)
	}
	if d.off16 != nil {
		return scanTable(m, d, d.off16, s)
	}
	return scanTable(m, d, d.off32, s)
}

// minPaired is the shortest text scanPaired reads: below it, finding the
// runes that fold onto ASCII letters costs more than pairing saves.
const minPaired = 256

// scanPaired is scanTable for a text with neither rune that folds onto an
// ASCII letter (see foldsOntoASCII), whose bytes then step the automaton
// as they are, over needles of which some start with a common byte, so
// that skipping bytes at the root rarely pays. Each step waits on the
// load of the step before it; two walkers, one over the text's first
// half and one over the rest from longest-1 bytes before it (a needle
// across the middle starts there or later), step together, and the loads
// of one overlap the other's.
func scanPaired[T uint16 | uint32](d *acDFA, next []T, s string, longest int) bool {
	mid := len(s) / 2
	a, b := s[:mid], s[mid-(longest-1):]
	sa, sb, accept := 0, 0, d.accept
	for i := range len(a) {
		sa = int(next[sa+int(d.class[a[i]])])
		sb = int(next[sb+int(d.class[b[i]])])
		if sa == accept || sb == accept {
			return true
		}
	}
	for i := len(a); i < len(b); i++ {
		if sb = int(next[sb+int(d.class[b[i]])]); sb == accept {
			return true
		}
	}
	return false
}

func scanTable[T uint16 | uint32](m *multiNeedle, d *acDFA, next []T, s string) bool {
	st, accept := 0, d.accept
	for i := 0; i < len(s); i++ {
		if st == 0 {
			for i < len(s) && !m.starts[s[i]] {
				i++
			}
			if i == len(s) {
				break
			}
		}
		c := s[i]
		if c >= utf8.RuneSelf {
			// The two runes that fold onto ASCII letters (see in).
			switch r, w := utf8.DecodeRuneInString(s[i:]); r {
			case '\u212A':
				c = 'k'
				i += w - 1
			case '\u017F':
				c = 's'
				i += w - 1
			}
		}
		st = int(next[st+int(d.class[c])])
		if st == accept {
			return true
		}
	}
	return false
}

// Affixes tells what every string w matches starts and ends with: exact
// is set when w holds no wildcard and matches only lit; otherwise prefix
// and suffix are its leading and trailing literals ("" when it begins or
// ends with a wildcard). Whether they compare with case is w's.
func (w *Wildcard) Affixes() (lit string, exact bool, prefix, suffix string) {
	t := w.toks
	if len(t) == 0 {
		return "", true, "", ""
	}
	if len(t) == 1 && t[0].kind == 'l' {
		return t[0].lit, true, "", ""
	}
	if t[0].kind == 'l' {
		prefix = t[0].lit
	}
	if t[len(t)-1].kind == 'l' {
		suffix = t[len(t)-1].lit
	}
	return "", false, prefix, suffix
}

// Cased reports whether w compares with case.
func (w *Wildcard) Cased() bool { return w.cased }

// AppendFold appends the fold key of s to dst: two strings are equal
// ignoring case, as iequals compares them (Unicode simple case folding,
// strings.EqualFold), exactly when their fold keys are equal, and one
// starts (ends) with the other ignoring case exactly when its fold key
// starts (ends) with the other's. Each rune becomes one representative
// of its case orbit: the ASCII lower-case letter when the orbit holds
// one (the Kelvin sign is k), else the orbit's smallest rune.
func AppendFold(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			dst = append(dst, lowerByte(c))
			i++
			continue
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		dst = utf8.AppendRune(dst, foldRune(r))
		i += w
	}
	return dst
}

// AppendFoldBytes is AppendFold of the text in b.
func AppendFoldBytes(dst, b []byte) []byte {
	return AppendFold(dst, unsafe.String(unsafe.SliceData(b), len(b)))
}

// FoldKey is AppendFold as a string.
func FoldKey(s string) string { return string(AppendFold(nil, s)) }

func foldRune(r rune) rune {
	best := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		if f < utf8.RuneSelf {
			return rune(lowerByte(byte(f)))
		}
		if f < best {
			best = f
		}
	}
	return best
}
