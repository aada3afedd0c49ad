package correlate

import (
	"encoding/json"
	"reflect"
	"testing"
)

// keyValues gives what encoding/json gives, or declines.
func checkKeyValues(t *testing.T, k string) (ok bool) {
	t.Helper()
	got, ok := keyValues(make([]any, 0, 2), k)
	var want []any
	err := json.Unmarshal([]byte(k), &want)
	if ok && (err != nil || !reflect.DeepEqual(got, want)) {
		t.Errorf("keyValues(%q) = %#v; encoding/json: %#v, %v", k, got, want, err)
	}
	return ok
}

func TestKeyValues(t *testing.T) {
	for _, tc := range []struct {
		key  string
		fast bool
	}{
		{`[]`, true},
		{`["u1"]`, true},
		{`["u1",42]`, true},
		{`["",-0.5e-3,true,false,null]`, true},
		{`["Zürich",1E+2]`, true},
		{`[0]`, true},
		{`["a\"b"]`, false},
		{`["a\u00e9"]`, false},
		{`[{"a":1}]`, false},
		{`[[1]]`, false},
		{`[01]`, false},
		{`[-Inf]`, false},
		{`[0x10]`, false},
		{`[1e400]`, false},
		{`["a",]`, false},
		{`[,"a"]`, false},
		{`["a" ]`, false},
		{`["a"`, false},
		{`"a"`, false},
		{`[tru]`, false},
		{"[\"a\x01\"]", false},
		{"[\"\xff\"]", false},
		{`[1.]`, false},
		{`[.5]`, false},
		{`[1e]`, false},
	} {
		if got := checkKeyValues(t, tc.key); got != tc.fast {
			t.Errorf("keyValues(%q) took it: %v, want %v", tc.key, got, tc.fast)
		}
	}
}

func FuzzKeyValues(f *testing.F) {
	for _, k := range []string{`[]`, `["u1",42]`, `["",-0.5e-3,true,false,null]`, `["a\"b"]`, `[01]`, `[1e400]`} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, k string) { checkKeyValues(t, k) })
}
