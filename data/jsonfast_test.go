package data

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/crucible-net/crucible/fuzzguard"
)

// checkFast compares fastObject with encoding/json on one input: when the
// fast path decodes it, encoding/json must decode it to the same values.
func checkFast(t *testing.T, in string) bool {
	t.Helper()
	if !utf8.ValidString(in) {
		return false
	}
	got, ok := fastObject([]byte(in))
	var want map[string]any
	err := json.Unmarshal([]byte(in), &want)
	if ok && err != nil {
		t.Fatalf("fast path took %q, which encoding/json refuses: %v", in, err)
	}
	if ok && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: fast path %#v, encoding/json %#v", in, got, want)
	}
	return ok
}

func TestFastObject(t *testing.T) {
	fast := []string{
		`{}`, ` { } `, `{"a":"b"}`, `{"instruction":"Say \"hi\"\n\tplease\\","output":"ok/\/"}`,
		`{"a":1,"b":-0.5e3,"c":true,"d":false,"e":null,"f":0,"g":1E+2,"h":-0}`, `{"a":"x","a":"y"}`,
		"{\r\n\"a\" : \"é日本\" ,\t\"b\":\"\"}",
	}
	for _, in := range fast {
		if !checkFast(t, in) {
			t.Errorf("%q went to encoding/json", in)
		}
	}
	slow := []string{
		`{"a":"\u00e9"}`, `{"a":[1]}`, `{"a":{"b":1}}`, `{"a":01}`, `{"a":1.}`, `{"a":-}`, `{"a":1e}`, `{"a":1e400}`,
		"{\"a\":\"x\ty\"}", `{"a":"b"`, `{"a":"b",}`, `{"a" "b"}`, `{a:"b"}`, `{"a":"b"} x`, `["a"]`, `{"a":tru}`, `{"a":"\x"}`, `{"a":"b\`,
	}
	for _, in := range slow {
		if checkFast(t, in) {
			t.Errorf("%q took the fast path", in)
		}
	}
	// Random rows built from JSON's pieces, valid and not.
	rng := rand.New(rand.NewPCG(1, 2))
	pieces := []string{`"`, `\`, `\"`, `\n`, `\u0041`, `\t`, "\t", " ", "x", "é", ":", ",", "{", "}", "[", "1", "-", ".", "e", "true", "null", "0", "\n"}
	for range 20000 {
		var b strings.Builder
		b.WriteString(`{"k`)
		for range rng.IntN(12) {
			b.WriteString(pieces[rng.IntN(len(pieces))])
		}
		checkFast(t, b.String())
		// And well-formed objects of random strings.
		obj := map[string]any{}
		for range rng.IntN(4) {
			var v strings.Builder
			for range rng.IntN(8) {
				v.WriteString(pieces[rng.IntN(len(pieces))])
			}
			obj[v.String()] = v.String()
			if rng.IntN(3) == 0 {
				obj[v.String()+"n"] = rng.NormFloat64() * 1e6
			}
		}
		enc, _ := json.Marshal(obj)
		checkFast(t, string(enc))
	}
}

func FuzzFastObject(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `{"a":1.5e3,"b":null}`, `{"a":"\n\"x\""}`, `{"a":[1]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) { fuzzguard.Within(t, func() { checkFast(t, in) }) })
}
