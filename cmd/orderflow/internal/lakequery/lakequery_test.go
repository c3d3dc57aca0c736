package lakequery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"reflect"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/orderflow/orderflow/pkg/template"
)

// repoRoot is the module root (template.yaml, .tools/duckdb).
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
}

// engine is DuckDB as `make lake-tools` installs it; the tests fail, not skip, without
// it: make test installs it.
func engine(t *testing.T) Engine {
	t.Helper()
	return Engine{Modules: filepath.Join(repoRoot(), ".tools", "duckdb", "node_modules")}
}

// fakeS3 serves objects from a map, two keys per page.
type fakeS3 struct{ objects map[string]string }

func (f fakeS3) ListObjectsV2(_ context.Context, in *s3.ListObjectsV2Input, _ ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	var keys []string
	for k := range f.objects {
		if strings.HasPrefix(k, aws.ToString(in.Prefix)) && k > aws.ToString(in.ContinuationToken) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	out := &s3.ListObjectsV2Output{IsTruncated: aws.Bool(len(keys) > 2)}
	if len(keys) > 2 {
		keys = keys[:2]
		out.NextContinuationToken = aws.String(keys[1])
	}
	for _, k := range keys {
		out.Contents = append(out.Contents, s3types.Object{Key: aws.String(k)})
	}
	return out, nil
}

func (f fakeS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	body, ok := f.objects[aws.ToString(in.Key)]
	if !ok {
		return nil, errors.New("NoSuchKey")
	}
	return &s3.GetObjectOutput{Body: io.NopCloser(bytes.NewReader([]byte(body)))}, nil
}

func row(id, status, currency string, total int) string {
	return fmt.Sprintf(`{"event_id":%q,"detail_type":"Order %s","order_id":%q,"status":%q,"currency":%q,"total":%d,`+
		`"occurred_at":"2026-03-07T10:00:00Z","detail":{"metadata":{"eventId":%q},"data":{"orderId":%q,"lines":[{"sku":"SKU-1","quantity":2}]}}}`,
		id+":"+status, status, id, status, currency, total, id+":"+status, id)
}

// lakeTable is the data lake's table as deployed (infra/data-lake.yaml).
func lakeTable(t *testing.T) template.GlueTable {
	t.Helper()
	g, err := FindTable(filepath.Join(repoRoot(), "template.yaml"), TableName)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestQueryLake(t *testing.T) {
	table := lakeTable(t)
	lake := fakeS3{objects: map[string]string{
		"raw/dt=2026-03-07/b1.json": row("o1", "CONFIRMED", "USD", 2500) + "\n" + row("o2", "CONFIRMED", "EUR", 900) + "\n" + row("o3", "CANCELLED", "USD", 100) + "\n",
		// The batch retried from a later record: o2 written again under another object.
		"raw/dt=2026-03-07/b2.json": row("o2", "CONFIRMED", "EUR", 900) + "\n",
		"raw/dt=2026-03-08/b3.json": row("o4", "CONFIRMED", "USD", 1000) + "\n",
		"failed/elsewhere.json":     row("o9", "CONFIRMED", "USD", 99999) + "\n",
	}}
	tests := []struct {
		name  string
		query string
		want  [][]any
	}{
		{"columns, partition and nested fields", `SELECT dt, event_id, total, detail.data.lines[1].sku FROM order_events WHERE order_id = 'o4'`,
			[][]any{{"2026-03-08", "o4:CONFIRMED", "1000", "SKU-1"}}},
		{"every row, duplicates included", `SELECT count(*) FROM order_events`, [][]any{{"5"}}},
		{"confirmed count and revenue, deduplicated on event_id", `SELECT currency, count(*), sum(total) FROM (
			SELECT event_id, any_value(currency) AS currency, any_value(total) AS total FROM order_events
			WHERE status = 'CONFIRMED' GROUP BY event_id) GROUP BY currency ORDER BY currency`,
			[][]any{{"EUR", "1", "900"}, {"USD", "2", "3500"}}},
		{"partition pruning by dt", `SELECT count(*) FROM order_events WHERE dt = '2026-03-07'`, [][]any{{"4"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := engine(t).QueryLake(context.Background(), lake, "bucket", table, tc.query)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.Rows, tc.want) {
				t.Fatalf("rows %v, want %v (columns %v)", r.Rows, tc.want, r.Columns)
			}
		})
	}
}

// TestViewHasTheTableColumns: the view's columns are the Glue table's, partition last,
// whether the lake holds objects or none; a column the rows lack is NULL, as on Athena.
func TestViewHasTheTableColumns(t *testing.T) {
	table := lakeTable(t)
	var want []string
	for _, c := range append(append([]template.Column{}, table.Columns...), table.PartitionKeys...) {
		want = append(want, c.Name)
	}
	for name, objects := range map[string]map[string]string{
		"empty lake":                {},
		"rows without some columns": {"raw/dt=2026-03-07/b.json": `{"event_id":"x:PENDING","status":"PENDING"}` + "\n"},
	} {
		t.Run(name, func(t *testing.T) {
			r, err := engine(t).QueryLake(context.Background(), fakeS3{objects}, "bucket", table, "SELECT * FROM order_events")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(r.Columns, want) {
				t.Fatalf("columns %v, want %v", r.Columns, want)
			}
			if len(objects) > 0 && (len(r.Rows) != 1 || r.Rows[0][1] != nil || r.Rows[0][len(want)-1] != "2026-03-07") {
				t.Fatalf("rows %v: want one row, detail_type NULL, dt 2026-03-07", r.Rows)
			}
		})
	}
}

// TestViewFollowsTheSerDeMapping: a mapping.<column> parameter reads the column from
// another key, as the JSON SerDe does.
func TestViewFollowsTheSerDeMapping(t *testing.T) {
	table := template.GlueTable{Name: "t", Prefix: "raw/", Columns: []template.Column{{Name: "detail_type", Type: "string"}},
		PartitionKeys: []template.Column{{Name: "dt", Type: "string"}}, SerDeParams: map[string]string{"mapping.detail_type": "detail-type"}}
	lake := fakeS3{objects: map[string]string{"raw/dt=2026-01-01/a.json": `{"detail-type":"Order Created"}` + "\n"}}
	r, err := engine(t).QueryLake(context.Background(), lake, "b", table, "SELECT detail_type FROM t")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Rows, [][]any{{"Order Created"}}) {
		t.Fatalf("rows %v", r.Rows)
	}
}

func TestQueryErrors(t *testing.T) {
	table := lakeTable(t)
	if _, err := engine(t).QueryLake(context.Background(), fakeS3{}, "b", table, "SELECT nope FROM order_events"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("bad column: err = %v, want DuckDB's message naming it", err)
	}
	none := Engine{Modules: t.TempDir()}
	if _, err := none.Query(context.Background(), nil, "SELECT 1"); !errors.Is(err, ErrNoEngine) {
		t.Errorf("no package: err = %v, want ErrNoEngine", err)
	}
	escape := fakeS3{objects: map[string]string{"raw/../../x.json": "{}"}}
	if _, err := Download(context.Background(), escape, "b", t.TempDir()); err == nil {
		t.Error("a key leaving the directory was written")
	}
}
