package chaos

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/edge"
)

// clock is a fake clock for the limiter; step, when set, advances it at every reading.
type clock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t
	c.t = c.t.Add(c.step)
	return t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// limitedEdge serves AWS calls through an edge with the injector's middleware in front
// of upstream; it returns the endpoint URL and the injector, whose limiter reads c.
func limitedEdge(t *testing.T, spec Spec, c *clock, upstream http.HandlerFunc) (string, *Injector) {
	t.Helper()
	in := New(spec)
	in.limiter = newLimiter(c.now)
	up := httptest.NewServer(upstream)
	t.Cleanup(up.Close)
	u, _ := url.Parse(up.URL)
	e := edge.New(u, nil)
	e.Use(in.Middleware)
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return srv.URL, in
}

// operation is the awsJson operation of a request as the upstream sees it.
func operation(r *http.Request) string {
	t := r.Header.Get("X-Amz-Target")
	return t[strings.LastIndexByte(t, '.')+1:]
}

func awsConfig(endpoint string, attempts int) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint),
		Retryer: func() aws.Retryer {
			// The SDK's own retryer and its decision what to retry; no waiting between
			// attempts (the fake clock decides what a retry finds).
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = attempts
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		},
	}
}

func attempts(md middleware.Metadata) int {
	r, _ := retry.GetAttemptResults(md)
	return len(r.Results)
}

// TestBucketRefill: a bucket holds at most its size and gains its refill rate per second.
func TestBucketRefill(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := NewBucket(5, 2, t0)
	for i := range 5 {
		if !b.Take(1, t0) {
			t.Fatalf("take %d of a full bucket of 5 refused", i+1)
		}
	}
	if b.Take(1, t0) {
		t.Fatal("an empty bucket gave a token")
	}
	if b.Take(1, t0.Add(400*time.Millisecond)) {
		t.Fatal("0.8 tokens after 400 ms at 2/s, yet one taken")
	}
	if !b.Take(1, t0.Add(500*time.Millisecond)) || b.Take(1, t0.Add(500*time.Millisecond)) {
		t.Fatal("exactly one token after 500 ms at 2/s")
	}
	if got := b.Tokens(t0.Add(time.Hour)); got != 5 {
		t.Fatalf("after an hour the bucket holds %v, want its size 5", got)
	}
	if b.Take(6, t0.Add(time.Hour)) || b.Tokens(t0.Add(time.Hour)) != 5 {
		t.Fatal("a take above the tokens held must take nothing")
	}
}

// TestStepFunctionsBuckets: StartExecution and SendTaskSuccess are throttled once their
// bucket (AWS's size ÷ scale) is empty and let through again at AWS's refill ÷ scale per
// second, through the SDK, which sees ThrottlingException.
func TestStepFunctionsBuckets(t *testing.T) {
	const scale = 100
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	served := 0
	var mu sync.Mutex
	endpoint, in := limitedEdge(t, Spec{Limits: Limits{Scale: scale, StepFunctions: true}}, c, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		served++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		io.WriteString(w, `{"executionArn":"arn:aws:states:us-east-1:000000000000:execution:m:e","startDate":0}`)
	})
	client := sfn.NewFromConfig(awsConfig(endpoint, 1))
	ctx := context.Background()
	start := func() error {
		_, err := client.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String("arn:aws:states:us-east-1:000000000000:stateMachine:m")})
		return err
	}
	callback := func() error {
		_, err := client.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String("t"), Output: aws.String("{}")})
		return err
	}
	for _, b := range []struct {
		name         string
		call         func() error
		size, refill int
	}{
		{"StartExecution", start, AWSStartBucket / scale, AWSStartRefill / scale},
		{"SendTaskSuccess", callback, AWSTaskCallbackBucket / scale, AWSTaskCallbackRefill / scale},
	} {
		for i := range b.size {
			if err := b.call(); err != nil {
				t.Fatalf("%s %d of a full bucket of %d: %v", b.name, i+1, b.size, err)
			}
		}
		throttled := func(err error) bool {
			var ae smithy.APIError
			return errors.As(err, &ae) && ae.ErrorCode() == "ThrottlingException"
		}
		if err := b.call(); !throttled(err) {
			t.Fatalf("%s past the bucket: %v, want ThrottlingException", b.name, err)
		}
		c.advance(time.Second)
		for i := range b.refill {
			if err := b.call(); err != nil {
				t.Fatalf("%s %d of the %d refilled in one second: %v", b.name, i+1, b.refill, err)
			}
		}
		if err := b.call(); !throttled(err) {
			t.Fatalf("%s: more than %d/s let through: %v", b.name, b.refill, err)
		}
	}
	want := AWSStartBucket/scale + AWSStartRefill/scale + AWSTaskCallbackBucket/scale + AWSTaskCallbackRefill/scale
	if served != want {
		t.Errorf("upstream served %d calls, want %d", served, want)
	}
	if got := in.Stats().Limited["states:StartExecution:ThrottlingException"]; got != 2 {
		t.Errorf("counted %d StartExecution refusals, want 2", got)
	}
}

// TestThrottledWriteRetried: past an item's write units DynamoDB answers
// ProvisionedThroughputExceededException (reason TableWriteKeyRangeThroughputExceeded),
// the SDK retries it, and the retry that finds the bucket refilled succeeds. Another
// item has its own units; a transaction costs each item twice.
func TestThrottledWriteRetried(t *testing.T) {
	// Scale 1000: 1 WCU per second per item; the clock moves 0.5 s at each reading.
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), step: 500 * time.Millisecond}
	var mu sync.Mutex
	served := map[string]int{}
	endpoint, in := limitedEdge(t, Spec{Limits: Limits{Scale: 1000, ItemWrites: true, Keys: map[string][]string{"inventory-dev": {"pk"}}}}, c,
		func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			served[operation(r)]++
			mu.Unlock()
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			io.WriteString(w, `{}`)
		})
	ctx := context.Background()
	put := func(db *dynamodb.Client, pk string) (*dynamodb.PutItemOutput, error) {
		return db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("inventory-dev"),
			Item: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "stock": &types.AttributeValueMemberN{Value: "5"}}})
	}
	db := dynamodb.NewFromConfig(awsConfig(endpoint, 3))
	if out, err := put(db, "SKU#A"); err != nil || attempts(out.ResultMetadata) != 1 {
		t.Fatalf("first write: %v", err)
	}
	// 0.5 s later the item has half a unit: throttled, retried, and the retry 0.5 s later
	// finds a whole one.
	out, err := put(db, "SKU#A")
	if err != nil {
		t.Fatalf("second write, retried by the SDK: %v", err)
	}
	if n := attempts(out.ResultMetadata); n != 2 {
		t.Errorf("second write took %d attempts, want 2 (one throttled)", n)
	}
	// Without retries the answer is DynamoDB's: the exception and its throttling reason.
	noRetry := dynamodb.NewFromConfig(awsConfig(endpoint, 1))
	c.advance(5 * time.Second)
	if _, err := put(noRetry, "SKU#A"); err != nil {
		t.Fatal(err)
	}
	_, err = put(noRetry, "SKU#A")
	var pte *types.ProvisionedThroughputExceededException
	if !errors.As(err, &pte) || len(pte.ThrottlingReasons) != 1 || aws.ToString(pte.ThrottlingReasons[0].Reason) != "TableWriteKeyRangeThroughputExceeded" ||
		!strings.HasSuffix(aws.ToString(pte.ThrottlingReasons[0].Resource), ":table/inventory-dev") {
		t.Fatalf("a write past the item's units: %v, want ProvisionedThroughputExceededException with TableWriteKeyRangeThroughputExceeded", err)
	}
	// Another item is not throttled by the first one's writes.
	if _, err := put(noRetry, "SKU#B"); err != nil {
		t.Fatalf("another item: %v", err)
	}
	// A transactional write costs 2 units: more than the item's 1 per second, ever.
	c.advance(5 * time.Second)
	_, err = noRetry.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String("inventory-dev"), Item: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "SKU#C"}}}},
	}})
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) || len(tce.CancellationReasons) != 1 || aws.ToString(tce.CancellationReasons[0].Code) != "ThrottlingError" {
		t.Fatalf("a transaction on an item of 1 WCU/s: %v, want TransactionCanceledException (ThrottlingError)", err)
	}
	if served["TransactWriteItems"] != 0 || served["PutItem"] != 4 {
		t.Errorf("upstream served %v, want 4 PutItem and no TransactWriteItems", served)
	}
	if got := in.Stats().Limited["dynamodb:PutItem:ProvisionedThroughputExceededException"]; got != 2 {
		t.Errorf("counted %d throttled PutItem, want 2", got)
	}
}

// TestConflictingTransactionCancelled: while a transaction on an item is in flight, a
// second transaction that touches the item is cancelled with TransactionConflict for it
// (None for its other item), a single write to it gets TransactionConflictException, and
// once the first transaction is answered the item is free again.
func TestConflictingTransactionCancelled(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	var hold sync.Once
	endpoint, in := limitedEdge(t, Spec{Limits: Limits{TransactionConflicts: true}}, c, func(w http.ResponseWriter, r *http.Request) {
		if operation(r) == "TransactWriteItems" {
			hold.Do(func() { arrived <- struct{}{}; <-release })
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		io.WriteString(w, `{}`)
	})
	db := dynamodb.NewFromConfig(awsConfig(endpoint, 3))
	ctx := context.Background()
	item := func(pk string) types.TransactWriteItem {
		return types.TransactWriteItem{Update: &types.Update{TableName: aws.String("inventory-dev"),
			Key:              map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}},
			UpdateExpression: aws.String("ADD stock :m"), ExpressionAttributeValues: map[string]types.AttributeValue{":m": &types.AttributeValueMemberN{Value: "-1"}}}}
	}
	first := make(chan error, 1)
	go func() {
		_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{item("SKU#A"), item("RES#1")}})
		first <- err
	}()
	<-arrived // the first transaction is in flight on SKU#A and RES#1

	_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{item("RES#2"), item("SKU#A")}})
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		close(release)
		t.Fatalf("second transaction on SKU#A: %v, want TransactionCanceledException", err)
	}
	var codes []string
	for _, r := range tce.CancellationReasons {
		codes = append(codes, aws.ToString(r.Code))
	}
	if strings.Join(codes, ",") != "None,TransactionConflict" {
		t.Errorf("cancellation reasons %v, want [None TransactionConflict]", codes)
	}
	_, err = db.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("inventory-dev"),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "SKU#A"}}, UpdateExpression: aws.String("SET x = :x"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":x": &types.AttributeValueMemberN{Value: "1"}}})
	var tcx *types.TransactionConflictException
	if !errors.As(err, &tcx) {
		t.Errorf("single write to SKU#A during the transaction: %v, want TransactionConflictException", err)
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first transaction: %v", err)
	}
	if _, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{item("RES#2"), item("SKU#A")}}); err != nil {
		t.Fatalf("after the first transaction, SKU#A is free: %v", err)
	}
	if got := in.Stats().Limited["dynamodb:TransactWriteItems:TransactionCanceledException:TransactionConflict"]; got != 1 {
		t.Errorf("counted %d conflicts, want 1", got)
	}
}

// TestLimitsOff: the zero Limits simulates nothing and the spec stays disabled.
func TestLimitsOff(t *testing.T) {
	if (Spec{}).Enabled() || (Limits{Scale: 100}).Enabled() {
		t.Error("limits without a limit switched on are enabled")
	}
	if !(Spec{Limits: Limits{ItemWrites: true}}).Enabled() {
		t.Error("a spec with itemWrites is not enabled")
	}
	if err := (Spec{Limits: Limits{Scale: -1}}).Validate(); err == nil {
		t.Error("a negative scale passed validation")
	}
}

// With Tables, only writes on those tables meet the limits: a transaction over a limited
// and an unlimited item is cancelled for the limited one alone (one reason per action),
// and the unlimited table takes any rate.
func TestLimitsOnListedTablesOnly(t *testing.T) {
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	endpoint, _ := limitedEdge(t, Spec{Limits: Limits{Scale: 1000, ItemWrites: true, Tables: []string{"inventory-dev"},
		Keys: map[string][]string{"inventory-dev": {"pk"}, "orders-dev": {"order_id"}}}}, c,
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			io.WriteString(w, `{}`)
		})
	ctx := context.Background()
	db := dynamodb.NewFromConfig(awsConfig(endpoint, 1))
	for i := range 5 {
		if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("orders-dev"),
			Item: map[string]types.AttributeValue{"order_id": &types.AttributeValueMemberS{Value: "o-1"}}}); err != nil {
			t.Fatalf("write %d on a table not listed: %v", i+1, err)
		}
	}
	_, err := db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String("orders-dev"), Item: map[string]types.AttributeValue{"order_id": &types.AttributeValueMemberS{Value: "o-1"}}}},
		{Put: &types.Put{TableName: aws.String("inventory-dev"), Item: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "SKU#A"}}}},
	}})
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) || len(tce.CancellationReasons) != 2 || aws.ToString(tce.CancellationReasons[0].Code) != "None" ||
		aws.ToString(tce.CancellationReasons[1].Code) != "ThrottlingError" {
		t.Fatalf("a transaction over both tables: %v, want cancelled for the inventory item alone", err)
	}
}
