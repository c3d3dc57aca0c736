package lakequery

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/orderflow/orderflow/tools/awstest"
	"github.com/orderflow/orderflow/tools/template"
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

func TestMain(m *testing.M) { os.Exit(awstest.Main(m)) }

// lakeOf is a bucket in the emulator holding objects (key to body).
func lakeOf(t *testing.T, objects map[string]string) (*s3.Client, string) {
	t.Helper()
	env := awstest.Env(t)
	return env.S3(), env.CreateBucket(t, env.Name(t, "lake"), objects)
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
	c, bucket := lakeOf(t, map[string]string{
		"raw/dt=2026-03-07/b1.json": row("o1", "CONFIRMED", "USD", 2500) + "\n" + row("o2", "CONFIRMED", "EUR", 900) + "\n" + row("o3", "CANCELLED", "USD", 100) + "\n",
		// The batch retried from a later record: o2 written again under another object.
		"raw/dt=2026-03-07/b2.json": row("o2", "CONFIRMED", "EUR", 900) + "\n",
		"raw/dt=2026-03-08/b3.json": row("o4", "CONFIRMED", "USD", 1000) + "\n",
		"failed/elsewhere.json":     row("o9", "CONFIRMED", "USD", 99999) + "\n",
	})
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
			r, err := engine(t).QueryLake(context.Background(), c, bucket, table, tc.query)
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
			c, bucket := lakeOf(t, objects)
			r, err := engine(t).QueryLake(context.Background(), c, bucket, table, "SELECT * FROM order_events")
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
	c, bucket := lakeOf(t, map[string]string{"raw/dt=2026-01-01/a.json": `{"detail-type":"Order Created"}` + "\n"})
	r, err := engine(t).QueryLake(context.Background(), c, bucket, table, "SELECT detail_type FROM t")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Rows, [][]any{{"Order Created"}}) {
		t.Fatalf("rows %v", r.Rows)
	}
}

func TestQueryErrors(t *testing.T) {
	c, bucket := lakeOf(t, map[string]string{"raw/../../x.json": "{}"})
	if _, err := Download(context.Background(), c, bucket, t.TempDir()); err == nil {
		t.Error("a key leaving the directory was written")
	}
	if _, err := engine(t).Query(context.Background(), nil, "SELECT nope FROM range(1)"); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("bad column: err = %v, want DuckDB's message naming it", err)
	}
	none := Engine{Modules: t.TempDir()}
	if _, err := none.Query(context.Background(), nil, "SELECT 1"); !errors.Is(err, ErrNoEngine) {
		t.Errorf("no package: err = %v, want ErrNoEngine", err)
	}
}
