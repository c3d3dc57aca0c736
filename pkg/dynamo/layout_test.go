package dynamo_test

import (
	"context"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/idempotency"
	"github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/pkg/order"
	"github.com/orderflow/orderflow/tools/awstest"
)

// dynamoSDK are the import paths whose users handle DynamoDB items by hand.
var dynamoSDK = []string{
	"github.com/aws/aws-sdk-go-v2/service/dynamodb",
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams",
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb",
}

// layoutMatchers returns, for each entry of dynamo.Layout, a pattern and whether it is to
// be looked for in every file. Prefixes (SKU#, count_) and snake_case names (order_id) are
// found inside any string literal, raw JSON included; "pk" too. A plain word (status,
// stock) is a layout name only where a file handles items by hand (imports the DynamoDB
// SDK) and keys something with it.
func layoutMatchers() map[string]struct {
	re       *regexp.Regexp
	anywhere bool
} {
	out := map[string]struct {
		re       *regexp.Regexp
		anywhere bool
	}{}
	for _, name := range dynamo.Layout {
		q := regexp.QuoteMeta(name)
		switch {
		case strings.HasSuffix(name, "#") || strings.HasSuffix(name, "_"):
			out[name] = struct {
				re       *regexp.Regexp
				anywhere bool
			}{regexp.MustCompile(`(^|[^A-Za-z0-9_])` + q), true}
		case strings.Contains(name, "_") || name == "pk":
			out[name] = struct {
				re       *regexp.Regexp
				anywhere bool
			}{regexp.MustCompile(`(^|[^A-Za-z0-9_])` + q + `($|[^A-Za-z0-9_])`), true}
		default:
			out[name] = struct {
				re       *regexp.Regexp
				anywhere bool
			}{regexp.MustCompile(`^` + q + `$`), false}
		}
	}
	return out
}

// No non-test Go file outside pkg/dynamo spells a key prefix or attribute name of the
// tables: a change of layout in pkg/dynamo then changes every reader and writer with it.
// examples/ is skipped: an example consumer owns its own table and layout.
func TestLayoutIsOwned(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	own, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	matchers := layoutMatchers()
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch name := d.Name(); {
			case path == own, path == filepath.Join(root, "examples"), name == "testdata", name == "node_modules", name == "vendor", strings.HasPrefix(name, ".") && path != root:
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		files++
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		handlesItems := false
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			for _, sdk := range dynamoSDK {
				if p == sdk || strings.HasPrefix(p, sdk+"/") {
					handlesItems = true
				}
			}
		}
		rel, _ := filepath.Rel(root, path)
		// Struct tags name the fields of other formats (JSON, the lake's rows); a
		// dynamodbav tag names an attribute.
		tags := map[*ast.BasicLit]bool{}
		// A plain word is an attribute name where it keys an item: a composite literal's
		// key or an index.
		keys := map[*ast.BasicLit]bool{}
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.Field:
				if n.Tag != nil {
					tags[n.Tag] = true
					if strings.Contains(n.Tag.Value, "dynamodbav") {
						t.Errorf("%s: field tag %s names a DynamoDB attribute: go through pkg/dynamo", rel, n.Tag.Value)
					}
				}
			case *ast.KeyValueExpr:
				if lit, ok := n.Key.(*ast.BasicLit); ok {
					keys[lit] = true
				}
			case *ast.IndexExpr:
				if lit, ok := n.Index.(*ast.BasicLit); ok {
					keys[lit] = true
				}
			}
			return true
		})
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING || tags[lit] {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			for name, m := range matchers {
				if (m.anywhere || handlesItems && keys[lit]) && m.re.MatchString(s) {
					t.Errorf("%s: %q spells %q of pkg/dynamo's item layout: go through pkg/dynamo", rel, s, name)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("read %d files under %s, want the whole module", files, root)
	}
}

// Every attribute name and key prefix the stores write is in dynamo.Layout, and every
// entry of dynamo.Layout is written: a change of layout that does not change the list
// fails here, and one that does is held by TestLayoutIsOwned to this package.
func TestLayoutListsEveryAttribute(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	c, orders := ordersTable(t)
	_, keys := table(t, "idempotency", awstest.TableSpec{HashKey: "pk"})
	_, inv := table(t, "inventory", awstest.TableSpec{HashKey: "pk"})
	_, metrics := table(t, "metrics", awstest.TableSpec{HashKey: "pk"})

	o := &order.Order{ID: "o-layout", CustomerID: "c-1", Currency: "USD", Total: 500, Status: order.StatusCancelled,
		FailureReason: order.ReasonOutOfStock, CorrelationID: "corr", PaymentToken: "tok_visa", ExecutionID: "exec",
		IdempotencyKey: "key-1", Lines: []order.Line{{SKU: "SKU-A", Quantity: 1, UnitPrice: 500}},
		CreatedAt: now, UpdatedAt: now, Version: 1}
	resp := idempotency.Response{StatusCode: 201, Headers: map[string]string{"Location": "/orders/o-layout"}, Body: "{}"}
	if _, err := dynamo.NewIntakeStore(c, orders, keys).Accept(ctx, o, "hash", resp, now); err != nil {
		t.Fatal(err)
	}
	store := dynamo.NewInventoryStore(c, inv)
	if err := store.Put(ctx, inventory.Item{SKU: "SKU-A", Name: "A mug", Price: 500, Currency: "USD", Stock: 3}); err != nil {
		t.Fatal(err)
	}
	if err := store.Reserve(ctx, o.ID, []inventory.Line{{SKU: "SKU-A", Quantity: 1}}); err != nil {
		t.Fatal(err)
	}
	// The conditional strategy: a reservation released (nonce, was_reserved) and one
	// left PENDING by a reserve that stopped after its record (owner, lease_until).
	cond := dynamo.NewConditionalInventoryStore(c, inv)
	if err := cond.Reserve(ctx, "o-cond", []inventory.Line{{SKU: "SKU-A", Quantity: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := cond.Release(ctx, "o-cond"); err != nil {
		t.Fatal(err)
	}
	stopped := dynamo.NewConditionalInventoryStore(failUpdates{c}, inv)
	if err := stopped.Reserve(ctx, "o-stopped", []inventory.Line{{SKU: "SKU-A", Quantity: 1}}); err == nil {
		t.Fatal("Reserve with failing updates succeeded")
	}
	markers := dynamo.NewMarkerStore(c, keys, dynamo.NotifyMarkerPrefix)
	if _, err := markers.Claim(ctx, "e-1", time.Minute, time.Hour, now); err != nil {
		t.Fatal(err)
	}
	if err := markers.Done(ctx, "e-1"); err != nil {
		t.Fatal(err)
	}
	d := event.MetricDelta{Minute: now, Status: string(order.StatusConfirmed), Currency: "USD", Revenue: 500}
	if _, err := dynamo.NewMetricsStore(c, metrics).Apply(ctx, "e-1", d); err != nil {
		t.Fatal(err)
	}

	listed := map[string]bool{}
	for _, name := range dynamo.Layout {
		listed[name] = true
	}
	seen := map[string]bool{}
	see := func(name string) {
		for l := range listed {
			if name == l || (strings.HasSuffix(l, "#") || strings.HasSuffix(l, "_")) && strings.HasPrefix(name, l) {
				seen[l] = true
				return
			}
		}
		t.Errorf("the stores write %q, which dynamo.Layout does not list", name)
	}
	var names func(item map[string]types.AttributeValue)
	names = func(item map[string]types.AttributeValue) {
		for name, v := range item {
			see(name)
			if l, ok := v.(*types.AttributeValueMemberL); ok {
				for _, e := range l.Value {
					if m, ok := e.(*types.AttributeValueMemberM); ok {
						names(m.Value)
					}
				}
			}
		}
		if pk, ok := item["pk"].(*types.AttributeValueMemberS); ok {
			i := strings.IndexByte(pk.Value, '#')
			if i < 0 {
				t.Errorf("key %q has no prefix", pk.Value)
				return
			}
			see(pk.Value[:i+1])
		}
	}
	for _, tbl := range []string{orders, keys, inv, metrics} {
		out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(tbl), ConsistentRead: aws.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range out.Items {
			names(it)
		}
	}
	for _, name := range dynamo.Layout {
		if !seen[name] {
			t.Errorf("dynamo.Layout lists %q, which no store wrote", name)
		}
	}
}

// failUpdates is a DynamoDB client whose UpdateItem calls fail: a store that stops there.
type failUpdates struct{ *dynamodb.Client }

func (failUpdates) UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	return nil, errors.New("stopped before the update")
}
