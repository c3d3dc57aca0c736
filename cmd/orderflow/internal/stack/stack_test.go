package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/tools/awstest"
	"github.com/orderflow/orderflow/tools/emulator"
)

// repoRoot is the module root, where template.yaml is.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..", "..")
}

// up starts a stack on free ports with its own lock dir and build dir, or skips the test
// where moto is not installed (unless CI=true) and in -short mode.
func up(t *testing.T, opts Options) *Stack {
	t.Helper()
	if testing.Short() {
		t.Skip("starts moto and the functions")
	}
	root := repoRoot(t)
	opts.Template = filepath.Join(root, "template.yaml")
	opts.LockDir = t.TempDir()
	if opts.BuildDir == "" {
		opts.BuildDir = t.TempDir()
	}
	// The stack's own log and the functions' output are kept, and printed only if the
	// test fails: a passing test is quiet, so a failure stands out in the package's output.
	logs := &awstest.SyncBuffer{}
	opts.FunctionLog = logs
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(logs, nil))
	}
	t.Cleanup(func() { // registered before Up, so that a failed Up shows its log too
		if t.Failed() {
			t.Logf("stack and function output:\n%s", logs.String())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := Up(ctx, opts)
	if errors.Is(err, emulator.ErrNotInstalled) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Provisioning alone: every resource the system needs exists, named from the template.
func TestUpProvisionsTheTemplate(t *testing.T) {
	s := up(t, Options{SkipFunctions: true})
	defer s.Close()
	want := map[string]string{
		"orders table": s.Tables["OrdersTable"], "inventory table": s.Tables["InventoryTable"],
		"bus": s.Bus, "stream": s.Stream, "topic": s.Topic, "bucket": s.Bucket, "state machine": s.StateMachineARN,
		"command queue": s.Queues["InventoryCommandQueue"], "ingest": s.Functions["IngestFunction"],
	}
	for what, got := range want {
		if got == "" {
			t.Errorf("%s not provisioned", what)
		}
	}
	if s.Tables["OrdersTable"] != "orders-dev" || s.Bus != "orders-dev" || s.Functions["IngestFunction"] != "orderflow-dev-ingest" {
		t.Errorf("names not from the template with Stage=dev: %+v", s.Info())
	}
	db := dynamodb.NewFromConfig(s.Config)
	out, err := db.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String("orders-dev")})
	if err != nil || len(out.Table.GlobalSecondaryIndexes) != 1 || aws.ToString(out.Table.GlobalSecondaryIndexes[0].IndexName) != "customer-index" {
		t.Errorf("orders table: %v, %+v", err, out)
	}
	if err == nil && (out.Table.StreamSpecification == nil || out.Table.StreamSpecification.StreamViewType != "NEW_AND_OLD_IMAGES" || aws.ToString(out.Table.LatestStreamArn) == "") {
		t.Errorf("orders table stream: %+v, want NEW_AND_OLD_IMAGES (the publisher's source)", out.Table.StreamSpecification)
	}
	if s.Buckets["StreamFailureBucket"] == "" || s.Buckets["StreamFailureBucket"] == s.Bucket {
		t.Errorf("buckets %v, data lake %q: want the stream-failures bucket apart from the data lake", s.Buckets, s.Bucket)
	}
	ttl, err := db.DescribeTimeToLive(context.Background(), &dynamodb.DescribeTimeToLiveInput{TableName: aws.String("idempotency-dev")})
	if err != nil || aws.ToString(ttl.TimeToLiveDescription.AttributeName) != "expires_at" {
		t.Errorf("idempotency TTL: %v, %+v", err, ttl)
	}
	if got := stock(t, s, "SKU-MUG-001"); got != 1000 {
		t.Errorf("catalog not loaded: stock %d", got)
	}
	// `aws lambda list-functions` / `get-function` against the edge show the template's
	// functions, as the SDK reads them.
	lc := lambda.NewFromConfig(emulator.Config(s.EdgeURL))
	list, err := lc.ListFunctions(context.Background(), &lambda.ListFunctionsInput{})
	if err != nil {
		t.Fatalf("ListFunctions: %v", err)
	}
	listed := map[string]bool{}
	for _, f := range list.Functions {
		listed[aws.ToString(f.FunctionName)] = true
	}
	for id, name := range s.Functions {
		if !listed[name] {
			t.Errorf("ListFunctions does not show %s (%s): %v", name, id, listed)
		}
	}
	got, err := lc.GetFunction(context.Background(), &lambda.GetFunctionInput{FunctionName: aws.String(s.Functions["IngestFunction"])})
	if err != nil {
		t.Fatalf("GetFunction: %v", err)
	}
	if c := got.Configuration; c.Runtime != "provided.al2023" || aws.ToString(c.Handler) != "bootstrap" || len(c.Architectures) != 1 ||
		c.Architectures[0] != "arm64" || c.Environment == nil || c.Environment.Variables["ORDERS_TABLE"] != "orders-dev" {
		t.Errorf("GetFunction %s: %+v", s.Functions["IngestFunction"], c)
	}
	// ApiAuth=IAM (the default): !If [UseJwtAuth, ..., !Ref AWS::NoValue] leaves the variable unset.
	if v, set := got.Configuration.Environment.Variables["CUSTOMER_CLAIM"]; set {
		t.Errorf("CUSTOMER_CLAIM = %q in IAM mode, want it unset (AWS::NoValue)", v)
	}
	t.Run("SAMLocalInvokeRecipe", func(t *testing.T) { samLocalInvokeRecipe(t, s) })
}

// The whole system: orders through the HTTP API end CONFIRMED, or CANCELLED with the
// stock back, within 10 s; a second stack is refused; nothing is left after Close.
func TestOrdersEndToEnd(t *testing.T) {
	s := up(t, Options{Build: true, Dir: repoRoot(t)})
	closed := false
	defer func() {
		if !closed {
			s.Close()
		}
	}()
	cases := []struct {
		name, sku, token string
		qty              int
		status, reason   string
		stockDelta       int
	}{
		{name: "confirmed", sku: "SKU-MUG-001", token: "tok_visa", qty: 1, status: "CONFIRMED", stockDelta: -1},
		{name: "payment declined releases the stock", sku: "SKU-TEE-002", token: "tok_decline", qty: 2, status: "CANCELLED", reason: "PAYMENT_DECLINED"},
		{name: "more than the stock", sku: "SKU-LTD-004", token: "tok_visa", qty: 4, status: "CANCELLED", reason: "OUT_OF_STOCK"},
		{name: "unknown sku", sku: "SKU-NOPE", token: "tok_visa", qty: 1, status: "REJECTED", reason: "UNKNOWN_SKU"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := stock(t, s, tc.sku)
			body := fmt.Sprintf(`{"customerId":"c-1","currency":"USD","lines":[{"sku":%q,"quantity":%d}],"paymentToken":%q}`, tc.sku, tc.qty, tc.token)
			resp, err := http.Post(s.HTTPURL+"/orders", "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted {
				t.Fatalf("POST /orders: %d %s", resp.StatusCode, b)
			}
			var created struct {
				OrderID string `json:"orderId"`
			}
			if err := json.Unmarshal(b, &created); err != nil || created.OrderID == "" {
				t.Fatalf("POST /orders answered %s", b)
			}
			var got struct {
				Status        string `json:"status"`
				FailureReason string `json:"failureReason"`
			}
			awstest.Eventually(t, 10*time.Second, func() (bool, string) {
				resp, err := http.Get(s.HTTPURL + "/orders/" + created.OrderID)
				if err != nil {
					return false, err.Error()
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				_ = json.Unmarshal(b, &got)
				return got.Status == tc.status, fmt.Sprintf("GET /orders/%s: %d %s", created.OrderID, resp.StatusCode, b)
			})
			if got.FailureReason != tc.reason {
				t.Errorf("failureReason %q, want %q", got.FailureReason, tc.reason)
			}
			if tc.sku != "SKU-NOPE" {
				if after := stock(t, s, tc.sku); after != before+tc.stockDelta {
					t.Errorf("stock of %s: %d -> %d, want a change of %d", tc.sku, before, after, tc.stockDelta)
				}
			}
		})
	}
	t.Run("the state machine's calls go through the edge", func(t *testing.T) {
		counts := map[string]int64{}
		for _, c := range s.Calls.Snapshot() {
			if !c.Internal {
				counts[c.String()] = c.N
			}
		}
		for _, call := range []string{"lambda:Invoke", "sqs:SendMessage", "dynamodb:UpdateItem", "events:PutEvents"} {
			if counts[call] == 0 {
				t.Errorf("no %s counted: %v", call, counts)
			}
		}
	})
	t.Run("a second stack is refused", func(t *testing.T) {
		_, err := Up(context.Background(), Options{Template: filepath.Join(repoRoot(t), "template.yaml"), LockDir: filepath.Dir(s.lockPath), SkipFunctions: true})
		if !errors.Is(err, ErrAlreadyRunning) {
			t.Fatalf("second Up: %v, want ErrAlreadyRunning", err)
		}
	})
	children := childPIDs(t)
	// Function processes start on first invoke; the orders above ran at least ingest,
	// process, inventory and notify, so moto and four function processes at the least.
	if len(children) < 4+1 {
		t.Fatalf("expected moto and function processes, found children %v", children)
	}
	closed = true
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range children {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("child process %d still exists after Close (%v)", pid, err)
		}
	}
	for _, u := range []string{s.HTTPURL, s.EdgeURL} {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			t.Errorf("%s still answers after Close", u)
		}
	}
}

// stock reads a SKU's stock from the inventory table.
func stock(t *testing.T, s *Stack, sku string) int {
	t.Helper()
	it, err := dynamo.NewInventoryStore(dynamodb.NewFromConfig(s.Config), s.Tables["InventoryTable"]).Get(context.Background(), sku)
	if errors.Is(err, inventory.ErrUnknownSKU) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return int(it.Stock)
}

// childPIDs lists the test process's children (Linux /proc).
func childPIDs(t *testing.T) []int {
	t.Helper()
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	var pids []int
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				pids = append(pids, n)
			}
		}
	}
	if len(pids) == 0 && runtime.GOOS == "linux" {
		t.Fatal("no child processes found in /proc")
	}
	return pids
}
