package analytics

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/orderflow/orderflow/events/samples"
	"github.com/orderflow/orderflow/pkg/lake"
	"github.com/orderflow/orderflow/tools/template"
)

// orderEvents returns the data lake's Glue table, order_events, from infra/data-lake.yaml.
func orderEvents(t *testing.T) template.GlueTable {
	t.Helper()
	tpl, err := template.Load(filepath.Join(filepath.Dir(samples.Dir()), "infra", "data-lake.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range tpl.GlueTables() {
		if g.Name == "order_events" {
			return g
		}
	}
	t.Fatal("infra/data-lake.yaml has no Glue table order_events")
	return template.GlueTable{}
}

// TestRowsMatchTheGlueTable makes the rows this handler writes and the table Athena
// reads them with one contract: every row of every sample batch (each detail-type the
// samples hold) has every declared column, with a value of its type, and no key the
// table does not declare, under the JSON SerDe's key mapping; and the objects lie where
// the table's partition projection looks for them.
func TestRowsMatchTheGlueTable(t *testing.T) {
	table := orderEvents(t)
	if table.SerDe != "org.openx.data.jsonserde.JsonSerDe" {
		t.Fatalf("SerDe %q: RowProblems models the OpenX JSON SerDe", table.SerDe)
	}
	if v := table.SerDeParams["ignore.malformed.json"]; v == "true" {
		t.Error("ignore.malformed.json hides rows Athena cannot read as rows of NULLs")
	}

	t.Run("layout", func(t *testing.T) {
		if len(table.PartitionKeys) != 1 || table.PartitionKeys[0].Name != "dt" {
			t.Fatalf("partition keys %v, want dt", table.PartitionKeys)
		}
		if table.Parameters["projection.dt.format"] != "yyyy-MM-dd" {
			t.Errorf("projection.dt.format %q, want yyyy-MM-dd (time.DateOnly)", table.Parameters["projection.dt.format"])
		}
		want := "s3://${" + table.Bucket + "}/" + table.Prefix + "dt=${!dt}/"
		if table.Bucket == "" || table.Parameters["storage.location.template"] != want {
			t.Errorf("storage.location.template %q, want %q", table.Parameters["storage.location.template"], want)
		}
		day := time.Date(2026, 3, 7, 23, 59, 0, 0, time.UTC)
		key, err := lake.Key(day, "batch")
		if err != nil {
			t.Fatal(err)
		}
		if dir := table.Prefix + "dt=2026-03-07/"; !strings.HasPrefix(key, dir) || strings.Contains(strings.TrimPrefix(key, dir), "/") {
			t.Errorf("lake.Key = %q, not directly under the partition %s the table reads", key, dir)
		}
	})

	samples.Run(t, "analytics", map[string]struct{}{"analytics-batch.json": {}}, func(t *testing.T, raw []byte, _ struct{}) {
		var ev events.KinesisEvent
		samples.RoundTrip(t, raw, &ev)
		lk := &fakeLake{}
		h := &Handler{Lake: lk, Metrics: &fakeMetrics{}, Log: quiet()}
		if resp, err := h.Handle(context.Background(), ev); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("Handle = %v, %v", resp, err)
		}
		rows := 0
		for _, c := range lk.calls {
			for _, row := range c.Rows {
				rows++
				if ps := table.RowProblems(row); len(ps) > 0 {
					t.Errorf("row %d of %s does not fit table %s:\n  %s\nrow: %s", rows, c.BatchID, table.Name, strings.Join(ps, "\n  "), row)
				}
			}
		}
		if rows != len(ev.Records) {
			t.Fatalf("%d rows written for %d records", rows, len(ev.Records))
		}
	})
}
