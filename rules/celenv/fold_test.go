package celenv

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// foldRunes are letters whose case orbits are not one upper and one lower
// ASCII letter: the Kelvin sign and the long s fold with k and s, the
// Greek sigmas form an orbit of three, the dotted and dotless i do not
// fold with i.
var foldRunes = []rune("kKKsSſσςΣiIİıéÉßẞaA-–—\\ 1")

func randomText(rnd *rand.Rand, n int) string {
	var b strings.Builder
	for range rnd.IntN(n + 1) {
		b.WriteRune(foldRunes[rnd.IntN(len(foldRunes))])
	}
	return b.String()
}

// TestFoldKey holds fold keys to the matching functions: equal fold keys
// exactly when iequals is true, and prefixes and suffixes of fold keys
// exactly when istartsWith and iendsWith are; and a wildcard's affixes
// hold for every text it matches.
func TestFoldKey(t *testing.T) {
	rnd := rand.New(rand.NewPCG(4, 4))
	for range 20000 {
		a, b := randomText(rnd, 6), randomText(rnd, 3)
		ka, kb := FoldKey(a), FoldKey(b)
		n := newFoldNeedle(b)
		if got, want := ka == kb, strings.EqualFold(a, b); got != want || n.equal(a) != want {
			t.Fatalf("%q %q: fold keys equal %v, EqualFold %v, iequals %v", a, b, got, want, n.equal(a))
		}
		if got, want := strings.HasPrefix(ka, kb), n.prefixOf(a); got != want {
			t.Fatalf("%q istartsWith %q: %v, fold keys say %v", a, b, want, got)
		}
		if got, want := strings.HasSuffix(ka, kb), n.suffixOf(a); got != want {
			t.Fatalf("%q iendsWith %q: %v, fold keys say %v", a, b, want, got)
		}
		if got, want := strings.Contains(ka, kb), n.in(a); got != want {
			t.Fatalf("%q icontains %q: %v, fold keys say %v", a, b, want, got)
		}
		// The same with ASCII around it, where a search takes the
		// ASCII path when no rune of a folds onto an ASCII letter.
		wide := "Xk" + a + "sZ"
		if got, want := strings.Contains(FoldKey(wide), kb), n.in(wide); got != want {
			t.Fatalf("%q icontains %q: %v, fold keys say %v", wide, b, want, got)
		}
		pat := randomText(rnd, 2) + []string{"*", "?", "", "*"}[rnd.IntN(4)] + randomText(rnd, 2) + []string{"*", ""}[rnd.IntN(2)] + randomText(rnd, 2)
		for _, cased := range []bool{false, true} {
			w := CompileWildcard(pat, cased)
			if !w.Match(a) {
				continue
			}
			lit, exact, prefix, suffix := w.Affixes()
			key := func(s string) string {
				if cased {
					return s
				}
				return FoldKey(s)
			}
			if exact && key(a) != key(lit) || !strings.HasPrefix(key(a), key(prefix)) || !strings.HasSuffix(key(a), key(suffix)) {
				t.Fatalf("%q matches %q (cased %v) but not its affixes %q %v %q %q", a, pat, cased, lit, exact, prefix, suffix)
			}
		}
	}
	if FoldKey("C:\\Windows\\System32\\REG.exe") != `c:\windows\system32\reg.exe` || FoldKey("\u212Aelvin") != "kelvin" {
		t.Error("fold keys of ASCII text are its lower case")
	}
}

// TestLowerWord holds lowerWord to lowerByte on every byte in every
// position, and on random words.
func TestLowerWord(t *testing.T) {
	check := func(w uint64) {
		var want uint64
		for i := range 8 {
			want |= uint64(lowerByte(byte(w>>(8*i)))) << (8 * i)
		}
		if got := lowerWord(w); got != want {
			t.Fatalf("lowerWord(%#016x) = %#016x, want %#016x", w, got, want)
		}
	}
	for b := range 256 {
		for i := range 8 {
			check(uint64(b) << (8 * i))
			check(0x4141414141414141 ^ uint64(b^0x41)<<(8*i))
		}
	}
	rnd := rand.New(rand.NewPCG(6, 6))
	for range 100000 {
		check(rnd.Uint64())
	}
}
