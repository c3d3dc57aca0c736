package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/failures"
	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/order"
	"github.com/orderflow/orderflow/tools/awstest"
)

func TestMain(m *testing.M) { os.Exit(awstest.Main(m)) }

// runCLI runs the CLI against the emulator with an empty environment.
func runCLI(t *testing.T, env *awstest.Environment, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append(args, "--aws-endpoint", env.Endpoint), &out, &errOut, noEnv)
	return code, out.String(), errOut.String()
}

func TestStockSetGet(t *testing.T) {
	env := awstest.Env(t)
	table := env.CreateTable(t, awstest.TableSpec{Name: env.Name(t, "inventory"), HashKey: "pk"})
	name := aws.ToString(table.TableName)

	steps := []struct {
		name     string
		args     []string
		wantExit int
		want     string
	}{
		{name: "unknown sku", args: []string{"stock", "get", "SKU-1"}, wantExit: ExitError},
		{name: "set with price", args: []string{"stock", "set", "SKU-1", "7", "--price", "1234"}, want: "SKU-1\tstock 7\tprice 12.34 USD\n"},
		{name: "get", args: []string{"stock", "get", "SKU-1"}, want: "SKU-1\tstock 7\tprice 12.34 USD\n"},
		{name: "restock keeps the price", args: []string{"stock", "set", "SKU-1", "9"}, want: "SKU-1\tstock 9\tprice 12.34 USD\n"},
		{name: "get again", args: []string{"stock", "get", "SKU-1"}, want: "SKU-1\tstock 9\tprice 12.34 USD\n"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, env, append(s.args, "--inventory-table", name)...)
			if code != s.wantExit {
				t.Fatalf("exit = %d, want %d; stderr: %s", code, s.wantExit, errOut)
			}
			if out != s.want {
				t.Errorf("stdout = %q, want %q", out, s.want)
			}
		})
	}
}

func TestDLQListAndRedrive(t *testing.T) {
	env := awstest.Env(t)
	ctx := context.Background()
	c := sqs.NewFromConfig(env.Config)
	prefix := env.Name(t, "cmds")
	q := env.CreateQueue(t, awstest.QueueSpec{Name: prefix, DLQ: true})
	// A failure destination: named like a DLQ, named by no redrive policy.
	events := env.CreateQueue(t, awstest.QueueSpec{Name: prefix + "-events-dlq"})

	for i := range 3 {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.DLQ.URL), MessageBody: aws.String(`{"command":"reserve","n":` + string(rune('0'+i)) + `}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl: aws.String(events.URL), MessageBody: aws.String(`{"detail-type":"Order Created"}`),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			"ERROR_CODE":    {DataType: aws.String("String"), StringValue: aws.String("SDK_CLIENT_ERROR")},
			"ERROR_MESSAGE": {DataType: aws.String("String"), StringValue: aws.String("target unreachable")},
		},
	}); err != nil {
		t.Fatal(err)
	}

	t.Run("list", func(t *testing.T) {
		code, out, errOut := runCLI(t, env, "dlq", "list", "--prefix", prefix, "--peek", "2")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		lines := strings.Split(out, "\n")
		var dlqRow, eventsRow string
		for _, l := range lines {
			f := strings.Fields(l)
			switch {
			case len(f) > 0 && f[0] == prefix+"-dlq":
				dlqRow = l
			case len(f) > 0 && f[0] == prefix+"-events-dlq":
				eventsRow = l
			case len(f) > 0 && f[0] == prefix:
				t.Errorf("the source queue is listed as a DLQ: %q", l)
			}
		}
		if f := strings.Fields(dlqRow); len(f) != 5 || f[1] != "3" || f[4] != prefix {
			t.Errorf("dlq row = %q, want depth 3 and source %s\n%s", dlqRow, prefix, out)
		}
		if f := strings.Fields(eventsRow); len(f) != 5 || f[1] != "1" || f[4] != "-" {
			t.Errorf("events dlq row = %q\n%s", eventsRow, out)
		}
		if got := strings.Count(out, "body {\"command\":\"reserve\""); got != 2 {
			t.Errorf("peeked %d command bodies, want 2:\n%s", got, out)
		}
		if !strings.Contains(out, "eventbridge SDK_CLIENT_ERROR: target unreachable") {
			t.Errorf("no EventBridge reason:\n%s", out)
		}
	})

	t.Run("redrive a failure destination is refused", func(t *testing.T) {
		code, _, errOut := runCLI(t, env, "dlq", "redrive", prefix+"-events-dlq")
		if code != ExitError || !strings.Contains(errOut, "no queue names") {
			t.Errorf("exit %d, stderr %s", code, errOut)
		}
	})

	t.Run("redrive", func(t *testing.T) {
		code, out, errOut := runCLI(t, env, "dlq", "redrive", prefix+"-dlq")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if want := "moved 3 message(s) from " + prefix + "-dlq to " + prefix + "\n"; out != want {
			t.Errorf("stdout = %q, want %q", out, want)
		}
		bodies := map[string]bool{}
		awstest.Eventually(t, 10*time.Second, func() (bool, string) {
			got, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(q.URL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
			if err != nil {
				return false, err.Error()
			}
			for _, m := range got.Messages {
				bodies[aws.ToString(m.Body)] = true
			}
			return len(bodies) == 3, "source holds " + strings.Join(keys(bodies), ", ")
		})
		attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
			QueueUrl: aws.String(q.DLQ.URL), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible},
		})
		if err != nil {
			t.Fatal(err)
		}
		if a := attrs.Attributes; a["ApproximateNumberOfMessages"] != "0" || a["ApproximateNumberOfMessagesNotVisible"] != "0" {
			t.Errorf("dlq still holds messages: %v", a)
		}
	})
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestOrdersWatch(t *testing.T) {
	env := awstest.Env(t)
	ctx := context.Background()
	eb := eventbridge.NewFromConfig(env.Config)
	bus := env.Name(t, "orders")
	if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = eb.DeleteEventBus(context.Background(), &eventbridge.DeleteEventBusInput{Name: aws.String(bus)})
	})

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var out, errOut awstest.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(wctx, []string{"orders", "watch", "--bus", bus, "--aws-endpoint", env.Endpoint}, &out, &errOut, noEnv)
	}()
	awstest.Eventually(t, 20*time.Second, func() (bool, string) {
		select {
		case code := <-done:
			t.Fatalf("watch ended early with %d: %s", code, errOut.String())
		default:
		}
		return strings.Contains(errOut.String(), "watching bus"), "watch not subscribed yet: " + errOut.String()
	})

	now := time.Now()
	o := &order.Order{ID: order.NewID(now), CustomerID: "c1", Currency: "USD", Total: 1234, Status: order.StatusCancelled,
		FailureReason: order.ReasonOutOfStock, Lines: []order.Line{{SKU: "A", Quantity: 1, UnitPrice: 1234}}, CreatedAt: now, UpdatedAt: now}
	ev, _ := event.FromOrder(o, now)
	detail, _ := json.Marshal(ev.Detail)
	put := func(source string) {
		res, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
			EventBusName: aws.String(bus), Source: aws.String(source), DetailType: aws.String(ev.DetailType), Detail: aws.String(string(detail)),
		}}})
		if err != nil || res.FailedEntryCount > 0 {
			t.Fatalf("put events: %v %+v", err, res)
		}
	}
	put("someone.else") // another source: not printed
	put(event.DefaultSource)
	awstest.Eventually(t, 20*time.Second, func() (bool, string) {
		return strings.Contains(out.String(), o.ID), "no line for the event yet: " + out.String()
	})
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("watch exit = %d: %s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("watch did not stop after cancel")
	}

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("printed %d lines, want 1 (the other source filtered out):\n%s", len(lines), out.String())
	}
	for _, want := range []string{"Order Cancelled", o.ID, "CANCELLED", "12.34 USD", "OUT_OF_STOCK"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("line %q lacks %q", lines[0], want)
		}
	}
	if !strings.Contains(errOut.String(), "removed rule and queue") {
		t.Errorf("no clean-up report: %s", errOut.String())
	}
	rules, err := eb.ListRules(ctx, &eventbridge.ListRulesInput{EventBusName: aws.String(bus)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rules.Rules) != 0 {
		t.Errorf("rules left on the bus: %d", len(rules.Rules))
	}
	qs, err := sqs.NewFromConfig(env.Config).ListQueues(ctx, &sqs.ListQueuesInput{QueueNamePrefix: aws.String("orderflow-watch-")})
	if err != nil {
		t.Fatal(err)
	}
	if len(qs.QueueUrls) != 0 {
		t.Errorf("watch queues left: %v", qs.QueueUrls)
	}
}

// TestDLQListShowsFailedStreamBatches: `dlq list` lists the batches a stream mapping
// wrote, records included, to its S3 on-failure destination, per mapping, and with --peek
// why each failed and what it holds.
func TestDLQListShowsFailedStreamBatches(t *testing.T) {
	env := awstest.Env(t)
	rec := failures.Record{RequestContext: failures.RequestContext{FunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:orderflow-dev-analytics",
		Condition: "RetryAttemptsExhausted", ApproximateInvokeCount: 6},
		KinesisBatchInfo: &failures.BatchInfo{ShardID: "shardId-000000000001", StartSequenceNumber: "7", EndSequenceNumber: "7", BatchSize: 1,
			StreamArn: "arn:aws:kinesis:us-east-1:123456789012:stream/order-stream-dev"}}
	if err := rec.SetPayload(events.KinesisEvent{Records: []events.KinesisEventRecord{{Kinesis: events.KinesisRecord{SequenceNumber: "7", Data: []byte("x")}}}}); err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	const mapping = "5c0f7a9e-1d2b-4c3d-8e4f-000000000001"
	key := failures.Key(mapping, "shardId-000000000001", time.Now(), "r1")
	bucket := env.CreateBucket(t, env.Name(t, "lake"), map[string]string{key: string(body), "raw/dt=2026-01-01/b.json": "{}\n"})

	code, out, errOut := runCLI(t, env, "dlq", "list", "--prefix", env.Name(t, "none"), "--bucket", bucket, "--peek", "1")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	row := regexp.MustCompile(`(?m)^s3://` + bucket + `/aws/lambda/` + mapping + `/\s+1\s+1\s+\S+\s+order-stream-dev -> orderflow-dev-analytics$`)
	if !row.MatchString(out) || !strings.Contains(out, "RetryAttemptsExhausted after 6 invokes: kinesis shardId-000000000001 seq 7..7 (1 records): no order event, 1 records that are no order event") {
		t.Errorf("output:\n%s", out)
	}
}
