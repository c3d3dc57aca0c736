// Package samples holds what the handlers' tests of the files in events/ share: running
// each sample of a function with its expected outcome, and the check that a sample
// survives a round trip through the Go type its handler decodes it into, so that a
// misspelt or misplaced member cannot hide in a sample.
package samples

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"testing"
)

// Dir returns the events/ directory of the source tree this package was built from.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// Run runs fn in a subtest for every events/<function>-*.json, with the file's contents
// and its entry in want (keyed by file name). It fails t when there is no such file, when
// a file has no entry in want (a new sample needs an expected outcome) and when an entry
// of want names no file (a sample was renamed or removed).
func Run[W any](t *testing.T, function string, want map[string]W, fn func(t *testing.T, raw []byte, w W)) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(Dir(), function+"-*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no sample events %s-*.json in %s (err %v)", function, Dir(), err)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = filepath.Base(f)
	}
	for name := range want {
		if !slices.Contains(names, name) {
			t.Errorf("expected outcome for %s, but there is no such file in %s", name, Dir())
		}
	}
	for i, f := range files {
		t.Run(names[i], func(t *testing.T) {
			w, ok := want[names[i]]
			if !ok {
				t.Fatalf("%s has no expected outcome in this test; add one", names[i])
			}
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			fn(t, raw, w)
		})
	}
}

// RoundTrip decodes raw into v (an aws-lambda-go events type, say) and fails t unless
// encoding v again keeps every member of raw with its value: a member the type does not
// know would be lost, and with it the sample's meaning.
func RoundTrip(t testing.TB, raw []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("decode into %T: %v", v, err)
	}
	again, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode %T: %v", v, err)
	}
	var orig, back any
	if err := json.Unmarshal(raw, &orig); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(again, &back); err != nil {
		t.Fatal(err)
	}
	if path, ok := Subset(orig, back, "$"); !ok {
		t.Errorf("member %s of the file does not survive a round trip through %T", path, v)
	}
}

// Subset reports whether every member of a (decoded JSON) is in b with the same value;
// when not, it returns the path of the first member that is not, starting from path.
func Subset(a, b any, path string) (string, bool) {
	switch a := a.(type) {
	case map[string]any:
		bm, ok := b.(map[string]any)
		if !ok {
			return path, false
		}
		for k, av := range a {
			if p, ok := Subset(av, bm[k], path+"."+k); !ok {
				return p, false
			}
		}
		return "", true
	case []any:
		bs, ok := b.([]any)
		if !ok || len(bs) != len(a) {
			return path, false
		}
		for i := range a {
			if p, ok := Subset(a[i], bs[i], path+"["+strconv.Itoa(i)+"]"); !ok {
				return p, false
			}
		}
		return "", true
	}
	return path, reflect.DeepEqual(a, b)
}
