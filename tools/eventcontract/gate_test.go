package eventcontract

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/orderflow/orderflow/events/schemas"
)

// TestRepositoryGate is the breaking-change gate of `make validate`: the schemas in
// events/schemas/ must not break what was released (events/schemas/released/).
func TestRepositoryGate(t *testing.T) {
	ps, err := Gate(os.DirFS(filepath.Join(repoRoot, ReleasedDir)), os.DirFS(filepath.Join(repoRoot, SchemasDir)))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		t.Error(p)
	}
	rel, err := readSchemas(os.DirFS(filepath.Join(repoRoot, ReleasedDir)))
	if err != nil || len(rel) != len(schemas.Names()) {
		t.Errorf("released %d schemas (%v), there are %d: run `go run ./cmd/eventcontract release` after a reviewed change", len(rel), err, len(schemas.Names()))
	}
}

// The file fixtures, both ways: a breaking edit of a released file fails with what
// breaks and where to put it instead; an additive one with a new minor passes.
func TestGateFixtures(t *testing.T) {
	released := os.DirFS("testdata/gate/released")
	ps, err := Gate(released, os.DirFS("testdata/gate/breaking"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 {
		t.Fatalf("breaking fixture: %v, want one problem", ps)
	}
	for _, want := range []string{
		"breaking: /data/customerId: member removed (or renamed)",
		"breaking: /data/customer: became required",
		`breaking: /data/total: type "integer" became "string"`,
		"a new file order-created.v2.json with schemaVersion 2.0",
	} {
		if !strings.Contains(ps[0].Message, want) {
			t.Errorf("breaking fixture: message lacks %q:\n%s", want, ps[0].Message)
		}
	}
	if ps, err := Gate(released, os.DirFS("testdata/gate/additive")); err != nil || len(ps) != 0 {
		t.Fatalf("additive fixture: %v %v, want none", ps, err)
	}
	if ps, err := Gate(released, released); err != nil || len(ps) != 0 {
		t.Fatalf("unchanged: %v %v", ps, err)
	}
}

// mutate returns the released order-cancelled schema changed by f, as JSON.
func mutate(t *testing.T, f func(s map[string]any)) []byte {
	t.Helper()
	raw, err := schemas.Read("order-cancelled.json")
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	if f != nil {
		f(s)
	}
	out, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func obj(s map[string]any, path ...string) map[string]any {
	for _, p := range path {
		s = s[p].(map[string]any)
	}
	return s
}

func data(s map[string]any) map[string]any { return obj(s, "properties", "data", "properties") }

func setVersion(v string) func(map[string]any) {
	return func(s map[string]any) {
		obj(s, "properties", "metadata", "properties")["schemaVersion"] = map[string]any{"const": v}
	}
}

func both(fs ...func(map[string]any)) func(map[string]any) {
	return func(s map[string]any) {
		for _, f := range fs {
			f(s)
		}
	}
}

func TestGateRules(t *testing.T) {
	released := mutate(t, nil)
	tests := []struct {
		name    string
		current fstest.MapFS
		want    string // substring of the one problem; "" = passes
	}{
		{"unchanged", fstest.MapFS{"order-cancelled.json": {Data: released}}, ""},
		{"description only", fstest.MapFS{"order-cancelled.json": {Data: mutate(t, func(s map[string]any) { s["description"] = "reworded" })}}, ""},
		{"additive with a minor", fstest.MapFS{"order-cancelled.json": {Data: mutate(t, both(setVersion("1.1"), func(s map[string]any) {
			data(s)["failureReason"].(map[string]any)["enum"] = []any{"OUT_OF_STOCK", "PAYMENT_DECLINED", "PROCESSING_FAILED", "FRAUD_SUSPECTED"}
		}))}}, ""},
		{"additive without a minor", fstest.MapFS{"order-cancelled.json": {Data: mutate(t, func(s map[string]any) {
			data(s)["note"] = map[string]any{"type": "string"}
		})}}, "additive changes without a new minor schemaVersion (released 1.0; want 1.1)"},
		{"narrowed enum", fstest.MapFS{"order-cancelled.json": {Data: mutate(t, both(setVersion("1.1"), func(s map[string]any) {
			data(s)["failureReason"].(map[string]any)["enum"] = []any{"OUT_OF_STOCK", "PAYMENT_DECLINED"}
		}))}}, `enum narrowed: ["PROCESSING_FAILED"]`},
		{"new required member", fstest.MapFS{"order-cancelled.json": {Data: mutate(t, both(setVersion("1.1"), func(s map[string]any) {
			data(s)["note"] = map[string]any{"type": "string"}
			p := obj(s, "properties", "data")
			p["required"] = append(p["required"].([]any), "note")
		}))}}, "/data/note: became required"},
		{"stricter bound", fstest.MapFS{"order-cancelled.json": {Data: mutate(t, both(setVersion("1.1"), func(s map[string]any) {
			data(s)["customerId"].(map[string]any)["maxLength"] = 32.0
		}))}}, "maxLength 64 became 32 (stricter)"},
		{"changed pattern", fstest.MapFS{"order-cancelled.json": {Data: mutate(t, func(s map[string]any) {
			data(s)["currency"].(map[string]any)["pattern"] = "^[A-Z]{3,4}$"
		})}}, "/data/currency: pattern"},
		{"item member removed", fstest.MapFS{"order-cancelled.json": {Data: mutate(t, func(s map[string]any) {
			delete(obj(s, "properties", "data", "properties", "lines", "items", "properties"), "unitPrice")
		})}}, "/data/lines/*/unitPrice: member removed"},
		{"renamed detail-type", fstest.MapFS{"order-cancelled.json": {Data: mutate(t, func(s map[string]any) { s["title"] = "Order Canceled" })}}, "detail-type (title)"},
		{"major in place", fstest.MapFS{"order-cancelled.json": {Data: mutate(t, setVersion("2.0"))}}, "changes the major in place"},
		{"version down", fstest.MapFS{"order-cancelled.json": {Data: mutate(t, setVersion("0.9"))}}, "changes the major in place"},
		{"removed file", fstest.MapFS{}, "released schema removed"},
		{"new major beside the old", fstest.MapFS{
			"order-cancelled.json":    {Data: released},
			"order-cancelled.v2.json": {Data: mutate(t, both(setVersion("2.0"), func(s map[string]any) { delete(data(s), "lines") }))},
		}, ""},
		{"new major file with a major-1 version", fstest.MapFS{
			"order-cancelled.json":    {Data: released},
			"order-cancelled.v2.json": {Data: released},
		}, "does not match the file name, which says major 2"},
		{"a v1 file name", fstest.MapFS{
			"order-cancelled.json":    {Data: released},
			"order-cancelled.v1.json": {Data: released},
		}, "does not match the file name"},
		{"new detail-type", fstest.MapFS{
			"order-cancelled.json": {Data: released},
			"order-shipped.json":   {Data: mutate(t, func(s map[string]any) { s["title"] = "Order Shipped" })},
		}, ""},
		{"bad file name", fstest.MapFS{"order-cancelled.json": {Data: released}, "Order_Shipped.json": {Data: released}}, "not a schema file name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := Gate(fstest.MapFS{"order-cancelled.json": {Data: released}}, tc.current)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if len(ps) != 0 {
					t.Fatalf("problems %v, want none", ps)
				}
				return
			}
			if len(ps) != 1 || !strings.Contains(ps[0].Message, tc.want) {
				t.Fatalf("problems %v, want one with %q", ps, tc.want)
			}
		})
	}
}

// Release refuses a breaking change and records an additive one as the new baseline.
func TestRelease(t *testing.T) {
	root := t.TempDir()
	write := func(dir, name string, data []byte) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	released := mutate(t, nil)
	write(ReleasedDir, "order-cancelled.json", released)
	write(SchemasDir, "order-cancelled.json", mutate(t, func(s map[string]any) { delete(data(s), "total") }))
	if ps, err := Release(root); err != nil || len(ps) != 1 {
		t.Fatalf("Release of a breaking change = %v, %v; want refused", ps, err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, ReleasedDir, "order-cancelled.json")); string(got) != string(released) {
		t.Fatal("a refused release changed the baseline")
	}
	additive := mutate(t, both(setVersion("1.1"), func(s map[string]any) { data(s)["note"] = map[string]any{"type": "string"} }))
	write(SchemasDir, "order-cancelled.json", additive)
	if ps, err := Release(root); err != nil || len(ps) != 0 {
		t.Fatalf("Release of an additive change = %v, %v", ps, err)
	}
	if got, _ := os.ReadFile(filepath.Join(root, ReleasedDir, "order-cancelled.json")); string(got) != string(additive) {
		t.Fatal("the baseline is not the released schema")
	}
}
