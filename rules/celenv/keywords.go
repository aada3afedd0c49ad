package celenv

import (
	"bytes"
	"strings"
	"unsafe"

	"github.com/cep-project/cep/event"
)

// A keyword search (Sigma's keywords, keywords(event, [...])) looks for
// its needles in every string and number of the event: a Windows event's
// forty-odd values each searched apart, and in SigmaHQ's rules one such
// rule reaches every event. Its needles are in the event's JSON line as
// they are in its values, once escaped as JSON escapes them, so one
// search of the line (long enough for two walkers, see scanPaired) rules
// most events out before its values are walked.

// lineSearch finds a keyword search's needles, escaped, in an event's
// line.
type lineSearch struct{ m *multiNeedle }

// lineKeywords returns the search of the line for needles, or nil where
// the line could miss a value's match:
//   - a needle outside ASCII: a decoder may read an invalid byte of the
//     line as U+FFFD;
//   - a needle of digits, dots and minus signs: a number is searched as
//     its shortest decimal text (event.Value.Text), which its text in
//     the line need not be (1e3, 1.50);
//   - a needle with a control character, which the line escapes in one
//     of several ways.
func lineKeywords(needles []foldNeedle) *lineSearch {
	escaped := make([]foldNeedle, len(needles))
	for i, n := range needles {
		if !n.ascii || n.s != "" && strings.Trim(n.s, "0123456789.-") == "" || strings.ContainsFunc(n.s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return nil
		}
		escaped[i] = newFoldNeedle(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(n.s))
	}
	return &lineSearch{m: sharedMultiNeedle(escaped)}
}

// rulesOut reports whether no value of ev can hold a needle: ev's line is
// the JSON object its values were read from, and holds none of the
// needles as escaped. A needle's characters (printable ASCII) are in the
// line as themselves, but \ and " (as \\ and \"), unless the line writes
// one another way (\/, \u0041): then it says nothing. So does it for an
// event whose line is not at hand (held, perhaps packed, or made without
// one).
func (ls *lineSearch) rulesOut(ev *event.Event) bool {
	raw := ev.Raw
	if len(raw) == 0 || raw[0] != '{' || ev.Held() || otherForms(raw) {
		return false
	}
	return !ls.m.in(unsafe.String(unsafe.SliceData(raw), len(raw)))
}

// otherForms reports whether a JSON text writes a printable character as
// an escape it need not use: \/ or \u.
func otherForms(b []byte) bool {
	for {
		i := bytes.IndexByte(b, '\\')
		if i < 0 || i+1 >= len(b) {
			return i >= 0
		}
		if c := b[i+1]; c == '/' || c == 'u' {
			return true
		}
		b = b[i+2:]
	}
}
