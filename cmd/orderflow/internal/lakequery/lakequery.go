// Package lakequery runs SQL over the data lake with a real SQL engine, DuckDB (npm
// @duckdb/node-api, run under Node), reading a local copy of the lake's objects through a
// view with exactly the columns and the dt partition of the Glue table Athena uses
// (infra/data-lake.yaml). So what works here reads the same rows the same way on Athena:
// a column the rows do not carry is NULL in both.
//
// DuckDB runs under Node rather than through its Go bindings: those need cgo and link a
// static library that made a one-file query program 72 MB, and its cold `go build` took
// 5 min 14 s (1 min of CPU) on the shared 2-core development machine, while the npm
// package installs in about 15 s and leaves the Go build and the Lambda functions
// untouched.
package lakequery

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/orderflow/orderflow/pkg/lake"
	"github.com/orderflow/orderflow/tools/template"
)

//go:embed query.js
var script string

// TableName is the Glue table of the data lake.
const TableName = "order_events"

// S3API is what Download reads of S3.
type S3API interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// ErrNoEngine is returned by Query when Node or the DuckDB package is missing.
var ErrNoEngine = errors.New("lake query: DuckDB is not installed: run `make lake-tools` (npm @duckdb/node-api under .tools/duckdb)")

// Engine runs DuckDB under Node.
type Engine struct {
	// Node is the node executable; default "node" on the PATH.
	Node string
	// Modules is the node_modules directory holding @duckdb/node-api.
	Modules string
}

// Result is a query's answer: column names and rows of JSON values (strings, numbers as
// DuckDB's JSON form gives them, BIGINT and DECIMAL as strings; null; nested values).
type Result struct {
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

// Query runs the setup statements and then query in a fresh in-memory DuckDB. It returns
// ErrNoEngine when Node or the package is missing, and DuckDB's message for a bad query.
func (e Engine) Query(ctx context.Context, setup []string, query string) (Result, error) {
	node := e.Node
	if node == "" {
		node = "node"
	}
	if _, err := exec.LookPath(node); err != nil {
		return Result{}, fmt.Errorf("%w (%v)", ErrNoEngine, err)
	}
	if _, err := os.Stat(filepath.Join(e.Modules, "@duckdb", "node-api", "package.json")); err != nil {
		return Result{}, fmt.Errorf("%w (%v)", ErrNoEngine, err)
	}
	in, err := json.Marshal(map[string]any{"setup": setup, "query": query})
	if err != nil {
		return Result{}, err
	}
	modules, err := filepath.Abs(e.Modules)
	if err != nil {
		return Result{}, err
	}
	cmd := exec.CommandContext(ctx, node, "-e", script)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return Result{}, fmt.Errorf("duckdb: %s", msg)
		}
		return Result{}, fmt.Errorf("duckdb: %w", err)
	}
	var r Result
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		return Result{}, fmt.Errorf("duckdb: unreadable answer: %w", err)
	}
	return r, nil
}

// QueryLake copies the data lake of bucket to a temporary directory, defines table over
// it as a view and runs query. Errors as for Download, View and Query.
func (e Engine) QueryLake(ctx context.Context, c S3API, bucket string, table template.GlueTable, query string) (Result, error) {
	dir, err := os.MkdirTemp("", "orderflow-lake-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	n, err := Download(ctx, c, bucket, dir)
	if err != nil {
		return Result{}, err
	}
	view, err := View(table, dir, n > 0)
	if err != nil {
		return Result{}, err
	}
	return e.Query(ctx, []string{view}, query)
}

// Download copies every object under lake.Prefix of bucket into dir, at its key, and
// returns how many it copied. It returns the S3 error, or an error for a key that would
// leave dir.
func Download(ctx context.Context, c S3API, bucket, dir string) (int, error) {
	n := 0
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(lake.Prefix)}
	for {
		out, err := c.ListObjectsV2(ctx, in)
		if err != nil {
			return n, fmt.Errorf("list s3://%s/%s: %w", bucket, lake.Prefix, err)
		}
		for _, o := range out.Contents {
			key := aws.ToString(o.Key)
			path := filepath.Join(dir, filepath.FromSlash(key))
			if rel, err := filepath.Rel(dir, path); err != nil || strings.HasPrefix(rel, "..") {
				return n, fmt.Errorf("object key %q leaves the lake", key)
			}
			if err := get(ctx, c, bucket, key, path); err != nil {
				return n, err
			}
			n++
		}
		if !aws.ToBool(out.IsTruncated) {
			return n, nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

func get(ctx context.Context, c S3API, bucket, key, path string) error {
	obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	defer obj.Body.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, obj.Body); err != nil {
		f.Close()
		return fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	return f.Close()
}

// View returns the CREATE VIEW statement that makes table queryable by name over the
// JSON-lines objects copied under dir: the table's columns read with their types from
// the keys the SerDe maps them to (`mapping.<column>`), and its partition keys from the
// key=value directories, as strings (Glue declares dt a string). With hasFiles false (an
// empty lake) the view has the same columns and no rows. It returns an error for a type
// it cannot translate.
func View(table template.GlueTable, dir string, hasFiles bool) (string, error) {
	var cols, selects []string
	for _, c := range table.Columns {
		h, err := template.ParseHiveType(c.Type)
		if err != nil {
			return "", err
		}
		typ, err := duckType(h)
		if err != nil {
			return "", fmt.Errorf("column %s: %w", c.Name, err)
		}
		key := c.Name
		if k, ok := table.SerDeParams["mapping."+c.Name]; ok {
			key = k
		}
		cols = append(cols, literal(key)+": "+literal(typ))
		if hasFiles {
			selects = append(selects, ident(key)+" AS "+ident(c.Name))
		} else {
			selects = append(selects, "CAST(NULL AS "+typ+") AS "+ident(c.Name))
		}
	}
	var hive []string
	for _, p := range table.PartitionKeys {
		hive = append(hive, literal(p.Name)+": 'VARCHAR'")
		if hasFiles {
			selects = append(selects, ident(p.Name))
		} else {
			selects = append(selects, "CAST(NULL AS VARCHAR) AS "+ident(p.Name))
		}
	}
	view := "CREATE VIEW " + ident(table.Name) + " AS SELECT " + strings.Join(selects, ", ")
	if !hasFiles {
		return view + " WHERE false", nil
	}
	glob := filepath.ToSlash(filepath.Join(dir, filepath.FromSlash(table.Prefix))) + "/*/*"
	return view + " FROM read_json(" + literal(glob) + ", format = 'newline_delimited', hive_partitioning = true" +
		", hive_types = {" + strings.Join(hive, ", ") + "}, columns = {" + strings.Join(cols, ", ") + "})", nil
}

// duckType translates a Hive type to DuckDB's.
func duckType(h template.HiveType) (string, error) {
	switch h.Kind {
	case "string", "varchar", "char":
		return "VARCHAR", nil
	case "bigint":
		return "BIGINT", nil
	case "int", "integer":
		return "INTEGER", nil
	case "smallint":
		return "SMALLINT", nil
	case "tinyint":
		return "TINYINT", nil
	case "double":
		return "DOUBLE", nil
	case "float":
		return "FLOAT", nil
	case "boolean":
		return "BOOLEAN", nil
	case "date":
		return "DATE", nil
	case "timestamp":
		return "TIMESTAMP", nil
	case "array":
		e, err := duckType(*h.Elem)
		return e + "[]", err
	case "map":
		k, err := duckType(*h.Key)
		if err != nil {
			return "", err
		}
		v, err := duckType(*h.Elem)
		return "MAP(" + k + ", " + v + ")", err
	case "struct":
		fields := make([]string, len(h.Fields))
		for i, f := range h.Fields {
			t, err := duckType(f.Type)
			if err != nil {
				return "", err
			}
			fields[i] = ident(f.Name) + " " + t
		}
		return "STRUCT(" + strings.Join(fields, ", ") + ")", nil
	}
	if strings.HasPrefix(h.Kind, "decimal") {
		return strings.ToUpper(h.Kind), nil
	}
	return "", fmt.Errorf("hive type %s has no DuckDB translation here", h)
}

func ident(s string) string   { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// FindTable returns the Glue table named name of the template at path or of one of its
// nested stacks whose Location is a local file. It returns an error when none is found.
func FindTable(path, name string) (template.GlueTable, error) {
	t, err := template.Load(path)
	if err != nil {
		return template.GlueTable{}, err
	}
	for _, g := range t.GlueTables() {
		if g.Name == name {
			return g, nil
		}
	}
	for _, id := range t.IDs("AWS::Serverless::Application", "AWS::CloudFormation::Stack") {
		loc, _ := t.Resources[id].Properties["Location"].(string)
		if loc == "" {
			loc, _ = t.Resources[id].Properties["TemplateURL"].(string)
		}
		if loc == "" || strings.Contains(loc, "://") {
			continue
		}
		if g, err := FindTable(filepath.Join(t.Dir, loc), name); err == nil {
			return g, nil
		}
	}
	return template.GlueTable{}, fmt.Errorf("no Glue table %s in %s or its nested stacks", name, path)
}
