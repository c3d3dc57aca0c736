package stack

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orderflow/orderflow/cmd/internal/loadgen"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/chaos"
	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/handler/analytics"
	"github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/pkg/order"
	"github.com/orderflow/orderflow/tools/awstest"
	"github.com/orderflow/orderflow/tools/emulator"
)

// pathsVisibility is the queues' visibility timeout in the paths tests: a failed SQS
// message comes back within seconds, and three receives take a few seconds, not minutes.
const pathsVisibility = 2 * time.Second

// pathsStack is the one stack the poison and crash path tests share, with the clients
// and the captured logs they read.
type pathsStack struct {
	*Stack
	logs *awstest.SyncBuffer
	ddb  *dynamodb.Client
	sqs  *sqs.Client
	kin  *kinesis.Client
	s3   *s3.Client
	http *http.Client
}

// pathsUp starts a stack with fault injection armed but injecting nothing (the tests
// change it with Faults.Set), short visibility timeouts, and every log it writes (the
// functions', the stack's own) kept in memory, so a test can look for the reason of a
// failure where an operator would. The log is printed when a test fails, or always with
// PATHS_DUMP=1 in the environment.
func pathsUp(t *testing.T) *pathsStack {
	t.Helper()
	if testing.Short() {
		t.Skip("starts moto and the functions")
	}
	root := repoRoot(t)
	logs := &awstest.SyncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := Up(ctx, Options{Template: filepath.Join(root, "template.yaml"), Dir: root, Build: true,
		BuildDir: t.TempDir(), LockDir: t.TempDir(), FunctionLog: logs,
		Log:               slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Faults:            &chaos.Spec{},
		VisibilityTimeout: pathsVisibility})
	if errors.Is(err, emulator.ErrNotInstalled) && os.Getenv("CI") != "true" {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if t.Failed() || os.Getenv("PATHS_DUMP") != "" {
			t.Logf("stack and function output:\n%s", logs.Bytes())
		}
	})
	return &pathsStack{Stack: s, logs: logs, ddb: dynamodb.NewFromConfig(s.Config), sqs: sqs.NewFromConfig(s.Config),
		kin: kinesis.NewFromConfig(s.Config), s3: s3.NewFromConfig(s.Config, func(o *s3.Options) { o.UsePathStyle = true }),
		http: &http.Client{Timeout: 30 * time.Second}}
}

// logLines returns the JSON log lines of the functions (each prefixed with the
// function's name in the captured output) that satisfy match.
func (p *pathsStack) logLines(match func(map[string]any) bool) []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(p.logs.Bytes()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		i := bytes.IndexByte(line, '{')
		if i < 0 {
			continue
		}
		line = line[i:]
		var m map[string]any
		if json.Unmarshal(line, &m) != nil {
			continue
		}
		if match(m) {
			out = append(out, m)
		}
	}
	return out
}

// putSKU adds a SKU of its own to the inventory table, so a test's stock arithmetic is
// not disturbed by the other tests.
func (p *pathsStack) putSKU(t *testing.T, sku string, stockLevel int) {
	t.Helper()
	it := inventory.Item{SKU: sku, Price: 250, Currency: "USD", Stock: int64(stockLevel)}
	if err := dynamo.NewInventoryStore(p.ddb, p.Tables["InventoryTable"]).Put(context.Background(), it); err != nil {
		t.Fatal(err)
	}
}

// placeOrders posts n orders of qty units of sku at once, each with its own
// Idempotency-Key, and returns their ids.
func (p *pathsStack) placeOrders(t *testing.T, name, sku string, qty, n int) []string {
	t.Helper()
	body := []byte(orderBody("c-paths", "tok_visa", e2eLine{SKU: sku, Quantity: int64(qty)}))
	ids := make([]string, n)
	statuses := make([]int, n)
	done := make(chan struct{})
	for i := range n {
		go func() {
			defer func() { done <- struct{}{} }()
			poster := &loadgen.Poster{Client: p.http, API: p.HTTPURL, Rule: loadgen.Patient}
			r := poster.Post(context.Background(), fmt.Sprintf("paths-%s-%d-%d", name, time.Now().UnixNano(), i), body)
			statuses[i], ids[i] = r.Status, r.OrderID
		}()
	}
	for range n {
		<-done
	}
	for i := range n {
		if statuses[i] != http.StatusAccepted || ids[i] == "" {
			t.Fatalf("order %d of %s: status %d, id %q", i, sku, statuses[i], ids[i])
		}
	}
	return ids
}

// orderStatus reads an order's status and failure reason from the orders table.
func (p *pathsStack) orderStatus(t *testing.T, id string) (string, string) {
	t.Helper()
	o, err := dynamo.NewOrderStore(p.ddb, p.Tables["OrdersTable"]).Get(context.Background(), id)
	if errors.Is(err, order.ErrNotFound) {
		return "", ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(o.Status), string(o.FailureReason)
}

// waitStatus waits until every order has status.
func (p *pathsStack) waitStatus(t *testing.T, ids []string, status string, within time.Duration) {
	t.Helper()
	awstest.Eventually(t, within, func() (bool, string) {
		for _, id := range ids {
			if got, reason := p.orderStatus(t, id); got != status {
				return false, fmt.Sprintf("order %s is %s %s, want %s", id, got, reason, status)
			}
		}
		return true, ""
	})
}

// checkReservedOnce checks that each order holds one reservation, RESERVED, of qty units
// of sku, and that the stock of sku went down by exactly qty per order.
func (p *pathsStack) checkReservedOnce(t *testing.T, ids []string, sku string, qty, before int) {
	t.Helper()
	for _, id := range ids {
		state, lines, err := dynamo.NewInventoryStore(p.ddb, p.Tables["InventoryTable"]).Reservation(context.Background(), id)
		if err != nil || state != inventory.Reserved {
			t.Errorf("reservation of order %s: state %q, %v; want RESERVED", id, state, err)
			continue
		}
		if want := []inventory.Line{{SKU: sku, Quantity: int64(qty)}}; !slices.Equal(lines, want) {
			t.Errorf("reservation of order %s: lines %v, want %v", id, lines, want)
		}
	}
	if got, want := stock(t, p.Stack, sku), before-qty*len(ids); got != want {
		t.Errorf("stock of %s = %d, want %d: %d orders of %d, each taken exactly once", sku, got, want, len(ids), qty)
	}
}

// queueDepth returns a queue's visible and in-flight message counts.
func (p *pathsStack) queueDepth(t *testing.T, url string) (visible, inFlight int) {
	t.Helper()
	out, err := p.sqs.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	visible, _ = strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessages)])
	inFlight, _ = strconv.Atoi(out.Attributes[string(sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return visible, inFlight
}

// dlqReader collects the messages of a dead-letter queue: each call of read receives (and
// deletes) what arrived since, keeping the bodies and receive counts by message id.
type dlqReader struct {
	p        *pathsStack
	url      string
	bodies   map[string]string
	receives map[string]int
}

func (p *pathsStack) dlq(logicalID string) *dlqReader {
	return &dlqReader{p: p, url: p.Queues[logicalID], bodies: map[string]string{}, receives: map[string]int{}}
}

func (d *dlqReader) read(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	for {
		out, err := d.p.sqs.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(d.url), MaxNumberOfMessages: 10,
			VisibilityTimeout:           30,
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameAll}})
		if err != nil {
			t.Fatalf("receive from %s: %v", d.url, err)
		}
		if len(out.Messages) == 0 {
			return
		}
		for _, m := range out.Messages {
			id := aws.ToString(m.MessageId)
			d.bodies[id] = aws.ToString(m.Body)
			d.receives[id], _ = strconv.Atoi(m.Attributes[string(sqstypes.MessageSystemAttributeNameApproximateReceiveCount)])
			if _, err := d.p.sqs.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(d.url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatalf("delete from %s: %v", d.url, err)
			}
		}
	}
}

// failureRecord is an async invoke's Lambda on-failure destination record, the fields the
// tests check (a stream mapping's is a failures.Record).
type failureRecord struct {
	RequestContext struct {
		FunctionArn            string `json:"functionArn"`
		Condition              string `json:"condition"`
		ApproximateInvokeCount int    `json:"approximateInvokeCount"`
	} `json:"requestContext"`
	RequestPayload  json.RawMessage `json:"requestPayload"`
	ResponsePayload struct {
		ErrorType    string `json:"errorType"`
		ErrorMessage string `json:"errorMessage"`
	} `json:"responsePayload"`
}

// shardOf returns the shard whose hash key range holds partitionKey (MD5 of the key as
// an unsigned 128-bit integer, as Kinesis maps it).
func shardOf(shards []ktypes.Shard, partitionKey string) string {
	sum := md5.Sum([]byte(partitionKey))
	h := new(big.Int).SetBytes(sum[:])
	for _, sh := range shards {
		lo, ok1 := new(big.Int).SetString(aws.ToString(sh.HashKeyRange.StartingHashKey), 10)
		hi, ok2 := new(big.Int).SetString(aws.ToString(sh.HashKeyRange.EndingHashKey), 10)
		if ok1 && ok2 && h.Cmp(lo) >= 0 && h.Cmp(hi) <= 0 {
			return aws.ToString(sh.ShardId)
		}
	}
	return ""
}

// recordsAfter returns the partition keys of the records of shard after sequence number
// seq, in order.
func (p *pathsStack) recordsAfter(t *testing.T, shard, seq string) []string {
	t.Helper()
	ctx := context.Background()
	it, err := p.kin.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(p.Stream), ShardId: aws.String(shard),
		ShardIteratorType: ktypes.ShardIteratorTypeAfterSequenceNumber, StartingSequenceNumber: aws.String(seq)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	iter := it.ShardIterator
	for iter != nil {
		out, err := p.kin.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Records {
			keys = append(keys, aws.ToString(r.PartitionKey))
		}
		if len(out.Records) == 0 {
			break
		}
		iter = out.NextShardIterator
	}
	return keys
}

// lakeEventIDs returns the eventIds of every row under raw/ in the data lake.
func (p *pathsStack) lakeEventIDs(t *testing.T) map[string]bool {
	t.Helper()
	ctx := context.Background()
	ids := map[string]bool{}
	pg := s3.NewListObjectsV2Paginator(p.s3, &s3.ListObjectsV2Input{Bucket: aws.String(p.Bucket), Prefix: aws.String("raw/")})
	for pg.HasMorePages() {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatalf("list %s: %v", p.Bucket, err)
		}
		for _, obj := range page.Contents {
			out, err := p.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(p.Bucket), Key: obj.Key})
			if err != nil {
				t.Fatalf("get %s: %v", aws.ToString(obj.Key), err)
			}
			b, err := io.ReadAll(out.Body)
			out.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			for _, line := range strings.Split(string(b), "\n") {
				var row analytics.Row
				if json.Unmarshal([]byte(line), &row) == nil && row.EventID != "" {
					ids[row.EventID] = true
				}
			}
		}
	}
	return ids
}

// crashes returns how many function processes the fault injector has killed, by
// function name containing fn.
func (p *pathsStack) crashes(fn string) int64 {
	var n int64
	for name, c := range p.Faults.Stats().Crashes {
		if strings.Contains(name, fn) {
			n += c
		}
	}
	return n
}
