package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/lakequery"
)

type lakeQueryOptions struct {
	Bucket, Template, DuckDB string
	JSON                     bool
	SQL                      string
}

func (e *env) parseLakeQuery(args []string) (*stackFlags, *lakeQueryOptions, error) {
	sf := &stackFlags{}
	o := &lakeQueryOptions{}
	fs := e.newFlagSet("lake query", sf)
	fs.StringVar(&o.Bucket, "bucket", e.getenv("DATA_LAKE_BUCKET"), "data-lake bucket (default: the bucket whose name has data-lake/datalake)")
	fs.StringVar(&o.Template, "template", "template.yaml", "the SAM template whose Glue table (order_events, in a nested stack) defines the columns")
	fs.StringVar(&o.DuckDB, "duckdb", e.getenv("ORDERFLOW_DUCKDB"), "node_modules holding @duckdb/node-api (default .tools/duckdb/node_modules next to the template; make lake-tools)")
	fs.BoolVar(&o.JSON, "json", false, "print {columns, rows} as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if err := wantArgs(fs, pos, "SQL"); err != nil {
		return nil, nil, err
	}
	o.SQL = pos[0]
	if o.DuckDB == "" {
		o.DuckDB = filepath.Join(filepath.Dir(o.Template), ".tools", "duckdb", "node_modules")
	}
	return sf, o, nil
}

// lakeQuery runs `orderflow lake query SQL`: the SQL in DuckDB over the stack's data lake
// (copied from S3), whose table order_events has the Glue table's columns and dt
// partitions, as Athena reads it.
func (e *env) lakeQuery(ctx context.Context, args []string) error {
	sf, o, err := e.parseLakeQuery(args)
	if err != nil {
		return err
	}
	table, err := lakequery.FindTable(o.Template, lakequery.TableName)
	if err != nil {
		return err
	}
	cfg, err := e.awsConfig(sf)
	if err != nil {
		return err
	}
	c := s3.NewFromConfig(cfg, func(opt *s3.Options) { opt.UsePathStyle = sf.Endpoint != "aws" })
	if o.Bucket == "" {
		if o.Bucket = findLakeBucket(ctx, c, sf.Stage); o.Bucket == "" {
			return fmt.Errorf("lake query: no data-lake bucket found: give --bucket (the stack's DataLakeBucketName output)")
		}
	}
	r, err := lakequery.Engine{Modules: o.DuckDB}.QueryLake(ctx, c, o.Bucket, table, o.SQL)
	if err != nil {
		return err
	}
	if o.JSON {
		return json.NewEncoder(e.stdout).Encode(r)
	}
	return writeResult(e, r)
}

// writeResult prints a result as an aligned table; nested values as JSON.
func writeResult(e *env, r lakequery.Result) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(r.Columns, "\t"))
	for _, row := range r.Rows {
		cells := make([]string, len(row))
		for i, v := range row {
			switch x := v.(type) {
			case nil:
				cells[i] = "NULL"
			case string:
				cells[i] = x
			default:
				b, _ := json.Marshal(x)
				cells[i] = string(b)
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "(%d rows)\n", len(r.Rows))
	return nil
}
