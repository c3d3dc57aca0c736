package emulator_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	dstypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/tools/emulator"
)

// shimStats is what GET /moto-api/orderflow/stats answers (the shim's fix 9).
type shimStats struct {
	StepFunctions map[string]struct {
		Executions   int `json:"executions"`
		Running      int `json:"running"`
		DroppedNames int `json:"droppedNames"`
	} `json:"stepfunctions"`
	StepFunctionsTokens int                       `json:"stepfunctionsTokens"`
	Kinesis             map[string]map[string]int `json:"kinesis"`
	SQS                 map[string]struct {
		Messages       int `json:"messages"`
		DeletedHandles int `json:"deletedHandles"`
		IndexedHandles int `json:"indexedHandles"`
	} `json:"sqs"`
	DynamoDBStreams map[string]struct {
		Records int `json:"records"`
	} `json:"dynamodbStreams"`
	DynamoDBStreamIterators int            `json:"dynamodbStreamIterators"`
	Archives                map[string]int `json:"archives"`
	Topics                  map[string]int `json:"topics"`
}

func readStats(t *testing.T, s *emulator.Server) shimStats {
	t.Helper()
	resp, err := http.Get(s.Endpoint + "/moto-api/orderflow/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st shimStats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || resp.StatusCode != 200 {
		t.Fatalf("stats: %d %v", resp.StatusCode, err)
	}
	return st
}

// boundedEnv gives the shim's bounds small values, so a few calls go past them.
var boundedEnv = []string{
	"MOTO_SHIM_SFN_FINISHED_MAX=3",
	"MOTO_SHIM_KINESIS_MAX_RECORDS=5",
	"MOTO_SHIM_SQS_DELETED_MAX=4",
	"MOTO_SHIM_DDB_STREAM_MAX_RECORDS=5",
	"MOTO_SHIM_DDB_STREAM_MAX_ITERATORS=3",
	"MOTO_SHIM_EVENTS_ARCHIVE_MAX=3",
	"MOTO_SHIM_SNS_SENT_MAX=3",
	// Threads switch every microsecond instead of every 5 ms, so that a missing lock
	// loses a record in a run (the concurrent puts below) rather than once in a while.
	"MOTO_SHIM_SWITCH_INTERVAL=0.000001",
}

// TestBoundedState checks the shim's fixes 4-10: past its bound each store keeps only
// the newest entries, and the API still answers as AWS does for what is kept and for
// what was dropped; a failed transaction still rolls back. With MOTO_SHIM_DISABLE=1
// every subtest but the rollback fails (nothing is trimmed; upstream rolls back too, by
// copying whole tables).
func TestBoundedState(t *testing.T) {
	t.Parallel()
	s := start(t, emulator.Options{Env: boundedEnv})
	cfg := emulator.Config(s.Endpoint)
	t.Run("stepfunctions", func(t *testing.T) { t.Parallel(); checkExecutionsBounded(t, s, cfg) })
	t.Run("task token", func(t *testing.T) { t.Parallel(); checkTaskToken(t, s, cfg) })
	t.Run("kinesis", func(t *testing.T) { t.Parallel(); checkKinesisTrimmed(t, s, cfg) })
	t.Run("kinesis concurrent puts", func(t *testing.T) { t.Parallel(); checkKinesisConcurrentPuts(t, cfg) })
	t.Run("sqs", func(t *testing.T) { t.Parallel(); checkReceiptHandles(t, s, cfg) })
	t.Run("dynamodb stream", func(t *testing.T) { t.Parallel(); checkTableStreamTrimmed(t, s, cfg) })
	t.Run("archive and topic", func(t *testing.T) { t.Parallel(); checkArchiveAndTopic(t, s, cfg) })
	t.Run("transaction rollback", func(t *testing.T) { t.Parallel(); checkTransactionRollback(t, s, cfg) })
}

// A transaction that fails on its last item leaves every item it had written as it was,
// and its stream records gone; one that succeeds applies all (fix 10: undo per item).
func checkTransactionRollback(t *testing.T, s *emulator.Server, cfg aws.Config) {
	ctx := context.Background()
	c := dynamodb.NewFromConfig(cfg)
	_, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String("tx"), BillingMode: ddbtypes.BillingModePayPerRequest,
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: ddbtypes.KeyTypeHash}},
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		StreamSpecification:  &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewTypeNewImage}})
	if err != nil {
		t.Fatal(err)
	}
	str := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberS{Value: v} }
	num := func(v string) ddbtypes.AttributeValue { return &ddbtypes.AttributeValueMemberN{Value: v} }
	for _, k := range []string{"a", "b"} {
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("tx"), Item: map[string]ddbtypes.AttributeValue{"pk": str(k), "n": num("1")}}); err != nil {
			t.Fatal(err)
		}
	}
	streamLen := func() int { return readStats(t, s).DynamoDBStreams["tx"].Records }
	before := streamLen()
	items := func(fail bool) []ddbtypes.TransactWriteItem {
		cond := "attribute_exists(pk)"
		if fail {
			cond = "attribute_not_exists(pk)" // b exists: the last item fails
		}
		return []ddbtypes.TransactWriteItem{
			{Update: &ddbtypes.Update{TableName: aws.String("tx"), Key: map[string]ddbtypes.AttributeValue{"pk": str("a")},
				UpdateExpression: aws.String("SET n = n + :one"), ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":one": num("1")}}},
			{Put: &ddbtypes.Put{TableName: aws.String("tx"), Item: map[string]ddbtypes.AttributeValue{"pk": str("c"), "n": num("9")}}},
			{Delete: &ddbtypes.Delete{TableName: aws.String("tx"), Key: map[string]ddbtypes.AttributeValue{"pk": str("d")}}},
			{Update: &ddbtypes.Update{TableName: aws.String("tx"), Key: map[string]ddbtypes.AttributeValue{"pk": str("b")},
				UpdateExpression: aws.String("SET n = :nine"), ConditionExpression: aws.String(cond),
				ExpressionAttributeValues: map[string]ddbtypes.AttributeValue{":nine": num("9")}}},
		}
	}
	state := func() map[string]string {
		out, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("tx")})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, it := range out.Items {
			got[it["pk"].(*ddbtypes.AttributeValueMemberS).Value] = it["n"].(*ddbtypes.AttributeValueMemberN).Value
		}
		return got
	}
	var canceled *ddbtypes.TransactionCanceledException
	if _, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items(true)}); !errors.As(err, &canceled) {
		t.Fatalf("failing transaction: %v, want TransactionCanceledException", err)
	}
	if got := fmt.Sprint(state()); got != "map[a:1 b:1]" {
		t.Errorf("after the failed transaction: %s, want a and b as they were, no c", got)
	}
	if n := streamLen(); n != before {
		t.Errorf("stream records %d after the failed transaction, want %d (its records undone)", n, before)
	}
	if _, err := c.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items(false)}); err != nil {
		t.Fatalf("transaction: %v", err)
	}
	if got := fmt.Sprint(state()); got != "map[a:2 b:9 c:9]" {
		t.Errorf("after the transaction: %s, want a:2 b:9 c:9", got)
	}
}

// Finished executions beyond the bound are dropped; their names stay taken.
func checkExecutionsBounded(t *testing.T, s *emulator.Server, cfg aws.Config) {
	ctx := context.Background()
	c := sfn.NewFromConfig(cfg)
	sm, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("bounded"),
		Definition: aws.String(passMachine), RoleArn: aws.String("arn:aws:iam::123456789012:role/sfn")})
	if err != nil {
		t.Fatal(err)
	}
	var arns []string
	for i := range 8 {
		out, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: sm.StateMachineArn,
			Name: aws.String(fmt.Sprintf("run-%d", i)), Input: aws.String(`{}`)})
		if err != nil {
			t.Fatalf("StartExecution %d: %v", i, err)
		}
		arns = append(arns, aws.ToString(out.ExecutionArn))
		waitSucceeded(t, c, arns[i])
	}
	awaitStats(t, s, func(st shimStats) (bool, string) {
		return st.StepFunctions[aws.ToString(sm.StateMachineArn)].Executions == 3, fmt.Sprintf("%+v", st.StepFunctions)
	})
	list, err := c.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: sm.StateMachineArn})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range list.Executions {
		names = append(names, aws.ToString(e.Name))
	}
	if strings.Join(names, ",") != "run-7,run-6,run-5" {
		t.Errorf("executions kept %v, want the newest 3", names)
	}
	var gone *sfntypes.ExecutionDoesNotExist
	if _, err := c.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arns[0])}); !errors.As(err, &gone) {
		t.Errorf("DescribeExecution of a dropped execution: %v, want ExecutionDoesNotExist", err)
	}
	var exists *sfntypes.ExecutionAlreadyExists
	if _, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: sm.StateMachineArn,
		Name: aws.String("run-0"), Input: aws.String(`{}`)}); !errors.As(err, &exists) {
		t.Errorf("StartExecution with a dropped execution's name: %v, want ExecutionAlreadyExists", err)
	}
	if got := readStats(t, s).StepFunctions[aws.ToString(sm.StateMachineArn)]; got.Executions != 3 || got.DroppedNames != 5 {
		t.Errorf("stats %+v, want 3 executions and 5 dropped names", got)
	}
}

// A task token reaches its execution (looked up by token), a second answer and an unknown
// token are InvalidToken, and a dropped execution takes its token with it.
func checkTaskToken(t *testing.T, s *emulator.Server, cfg aws.Config) {
	ctx := context.Background()
	c := sfn.NewFromConfig(cfg)
	q, err := sqs.NewFromConfig(cfg).CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("tokens")})
	if err != nil {
		t.Fatal(err)
	}
	def := `{"StartAt":"W","States":{"W":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage.waitForTaskToken",` +
		`"Parameters":{"QueueUrl":"` + aws.ToString(q.QueueUrl) + `","MessageBody":{"token.$":"$$.Task.Token"}},"End":true}}}`
	sm, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("callback"),
		Definition: aws.String(def), RoleArn: aws.String("arn:aws:iam::123456789012:role/sfn")})
	if err != nil {
		t.Fatal(err)
	}
	var invalid *sfntypes.InvalidToken
	for i := range 5 {
		out, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: sm.StateMachineArn,
			Name: aws.String(fmt.Sprintf("cb-%d", i)), Input: aws.String(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		token := receiveToken(t, sqs.NewFromConfig(cfg), aws.ToString(q.QueueUrl))
		if _, err := c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String("no-such-token"), Output: aws.String(`{}`)}); !errors.As(err, &invalid) {
			t.Fatalf("SendTaskSuccess with an unknown token: %v, want InvalidToken", err)
		}
		if _, err := c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(`{"n":` + strconv.Itoa(i) + `}`)}); err != nil {
			t.Fatalf("SendTaskSuccess: %v", err)
		}
		d := waitSucceeded(t, c, aws.ToString(out.ExecutionArn))
		var got struct{ N *int }
		if json.Unmarshal([]byte(aws.ToString(d.Output)), &got) != nil || got.N == nil || *got.N != i {
			t.Errorf("execution %d output %s, want the answer sent with its token", i, aws.ToString(d.Output))
		}
		if _, err := c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(`{}`)}); !errors.As(err, &invalid) {
			t.Errorf("a second SendTaskSuccess: %v, want InvalidToken", err)
		}
	}
	// 5 finished executions, 3 kept: the two dropped ones took their tokens along.
	awaitStats(t, s, func(st shimStats) (bool, string) {
		return st.StepFunctions[aws.ToString(sm.StateMachineArn)].Executions == 3, fmt.Sprintf("%+v", st.StepFunctions)
	})
}

func receiveToken(t *testing.T, c *sqs.Client, url string) string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			var body struct {
				Token string `json:"token"`
			}
			_ = json.Unmarshal([]byte(aws.ToString(m.Body)), &body)
			_, _ = c.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle})
			if body.Token != "" {
				return body.Token
			}
		}
	}
	t.Fatal("no task token on the queue within 20s")
	return ""
}

// A shard keeps its newest records; sequence numbers go on; reads by sequence work.
func checkKinesisTrimmed(t *testing.T, s *emulator.Server, cfg aws.Config) {
	ctx := context.Background()
	c := kinesis.NewFromConfig(cfg)
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("trimmed"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	var seqs []string
	for i := range 12 {
		out, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("trimmed"), PartitionKey: aws.String("k"), Data: []byte(strconv.Itoa(i))})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, aws.ToString(out.SequenceNumber))
	}
	read := func(typ ktypes.ShardIteratorType, seq string, limit int32) []string {
		in := &kinesis.GetShardIteratorInput{StreamName: aws.String("trimmed"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: typ}
		if seq != "" {
			in.StartingSequenceNumber = aws.String(seq)
		}
		it, err := c.GetShardIterator(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		gr := &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator}
		if limit > 0 {
			gr.Limit = aws.Int32(limit)
		}
		out, err := c.GetRecords(ctx, gr)
		if err != nil {
			t.Fatal(err)
		}
		var data []string
		for _, r := range out.Records {
			data = append(data, string(r.Data))
		}
		return data
	}
	if got := read(ktypes.ShardIteratorTypeTrimHorizon, "", 0); strings.Join(got, ",") != "7,8,9,10,11" {
		t.Errorf("TRIM_HORIZON read %v, want the newest 5 records", got)
	}
	if got := read(ktypes.ShardIteratorTypeAfterSequenceNumber, seqs[9], 1); strings.Join(got, ",") != "10" {
		t.Errorf("AFTER_SEQUENCE_NUMBER %s limit 1 read %v, want [10]", seqs[9], got)
	}
	if got := readStats(t, s).Kinesis["trimmed"]["shardId-000000000000"]; got != 5 {
		t.Errorf("shard holds %d records, want 5", got)
	}
}

// Concurrent PutRecords on one shard each get their own sequence number: moto serves
// requests on threads, and a put that drew the number another was given overwrote that
// record (a record lost without an error).
func checkKinesisConcurrentPuts(t *testing.T, cfg aws.Config) {
	ctx := context.Background()
	c := kinesis.NewFromConfig(cfg)
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("concurrent"), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 40
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				out, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String("concurrent"), PartitionKey: aws.String("k"),
					Data: []byte(fmt.Sprintf("%d-%d", w, i))})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				seen[aws.ToString(out.SequenceNumber)]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for seq, n := range seen {
		if n > 1 {
			t.Errorf("sequence number %s given to %d puts: all but one record lost", seq, n)
		}
	}
	if len(seen) != writers*each {
		t.Errorf("%d distinct sequence numbers for %d puts", len(seen), writers*each)
	}
}

// Deletes work with the latest and an older receipt handle, twice, and by index; the
// deleted handles remembered stay within the bound.
func checkReceiptHandles(t *testing.T, s *emulator.Server, cfg aws.Config) {
	ctx := context.Background()
	c := sqs.NewFromConfig(cfg)
	q, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("handles"), Attributes: map[string]string{"VisibilityTimeout": "0"}})
	if err != nil {
		t.Fatal(err)
	}
	url := q.QueueUrl
	for i := range 6 {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	receive := func(visibility int32) map[string]string {
		out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url, MaxNumberOfMessages: 10, VisibilityTimeout: visibility})
		if err != nil {
			t.Fatal(err)
		}
		handles := map[string]string{}
		for _, m := range out.Messages {
			handles[aws.ToString(m.Body)] = aws.ToString(m.ReceiptHandle)
		}
		return handles
	}
	first := receive(0)
	second := receive(30)
	if len(first) != 6 || len(second) != 6 {
		t.Fatalf("received %d then %d messages, want 6 twice", len(first), len(second))
	}
	// Visible again through the newest handle of "0".
	if _, err := c.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: url, ReceiptHandle: aws.String(second["0"]), VisibilityTimeout: 0}); err != nil {
		t.Fatalf("ChangeMessageVisibility: %v", err)
	}
	for body := range first {
		h := second[body]
		if body < "3" {
			h = first[body] // an older handle of the same message
		}
		for range 2 { // the second delete of a deleted message succeeds
			if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: url, ReceiptHandle: aws.String(h)}); err != nil {
				t.Fatalf("DeleteMessage %s: %v", body, err)
			}
		}
	}
	var invalid *sqstypes.ReceiptHandleIsInvalid
	if _, err := c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: url, ReceiptHandle: aws.String("no-such-handle")}); !errors.As(err, &invalid) {
		t.Errorf("DeleteMessage with an unknown handle: %v, want ReceiptHandleIsInvalid", err)
	}
	st := readStats(t, s).SQS["handles"]
	if st.Messages != 0 || st.DeletedHandles > 4 || st.IndexedHandles != 0 {
		t.Errorf("queue state %+v, want no message, at most 4 deleted handles, an empty index", st)
	}
}

// A table's stream keeps its newest records, sequence numbers go on, and an iterator
// below the trim horizon is TrimmedDataAccessException; old iterators expire.
func checkTableStreamTrimmed(t *testing.T, s *emulator.Server, cfg aws.Config) {
	ctx := context.Background()
	c := dynamodb.NewFromConfig(cfg)
	ds := dynamodbstreams.NewFromConfig(cfg)
	tbl, err := c.CreateTable(ctx, &dynamodb.CreateTableInput{TableName: aws.String("streamed"), BillingMode: ddbtypes.BillingModePayPerRequest,
		KeySchema:            []ddbtypes.KeySchemaElement{{AttributeName: aws.String("k"), KeyType: ddbtypes.KeyTypeHash}},
		AttributeDefinitions: []ddbtypes.AttributeDefinition{{AttributeName: aws.String("k"), AttributeType: ddbtypes.ScalarAttributeTypeS}},
		StreamSpecification:  &ddbtypes.StreamSpecification{StreamEnabled: aws.Bool(true), StreamViewType: ddbtypes.StreamViewTypeNewImage}})
	if err != nil {
		t.Fatal(err)
	}
	arn := tbl.TableDescription.LatestStreamArn
	for i := range 12 {
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("streamed"),
			Item: map[string]ddbtypes.AttributeValue{"k": &ddbtypes.AttributeValueMemberS{Value: strconv.Itoa(i)}}}); err != nil {
			t.Fatal(err)
		}
	}
	desc, err := ds.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: arn})
	if err != nil {
		t.Fatal(err)
	}
	shard := desc.StreamDescription.Shards[0].ShardId
	read := func(typ dstypes.ShardIteratorType, seq string) ([]string, []string, error) {
		in := &dynamodbstreams.GetShardIteratorInput{StreamArn: arn, ShardId: shard, ShardIteratorType: typ}
		if seq != "" {
			in.SequenceNumber = aws.String(seq)
		}
		it, err := ds.GetShardIterator(ctx, in)
		if err != nil {
			return nil, nil, err
		}
		out, err := ds.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			return nil, nil, err
		}
		var keys, seqs []string
		for _, r := range out.Records {
			keys = append(keys, r.Dynamodb.Keys["k"].(*dstypes.AttributeValueMemberS).Value)
			seqs = append(seqs, aws.ToString(r.Dynamodb.SequenceNumber))
		}
		return keys, seqs, nil
	}
	keys, seqs, err := read(dstypes.ShardIteratorTypeTrimHorizon, "")
	if err != nil || strings.Join(keys, ",") != "7,8,9,10,11" {
		t.Fatalf("TRIM_HORIZON read %v (%v), want the newest 5 items", keys, err)
	}
	if keys, _, err := read(dstypes.ShardIteratorTypeAfterSequenceNumber, seqs[2]); err != nil || strings.Join(keys, ",") != "10,11" {
		t.Errorf("AFTER_SEQUENCE_NUMBER %s read %v (%v), want [10 11]", seqs[2], keys, err)
	}
	first, _ := strconv.ParseUint(seqs[0], 10, 64)
	var trimmed *dstypes.TrimmedDataAccessException
	if _, _, err := read(dstypes.ShardIteratorTypeAtSequenceNumber, strconv.FormatUint(first-1, 10)); !errors.As(err, &trimmed) {
		t.Errorf("AT_SEQUENCE_NUMBER below the trim horizon: %v, want TrimmedDataAccessException", err)
	}
	old, err := ds.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: arn, ShardId: shard, ShardIteratorType: dstypes.ShardIteratorTypeLatest})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 { // newer iterators push the old one out
		if _, _, err := read(dstypes.ShardIteratorTypeLatest, ""); err != nil {
			t.Fatal(err)
		}
	}
	var expired *dstypes.ExpiredIteratorException
	if _, err := ds.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: old.ShardIterator}); !errors.As(err, &expired) {
		t.Errorf("GetRecords with an evicted iterator: %v, want ExpiredIteratorException", err)
	}
	st := readStats(t, s)
	if st.DynamoDBStreams["streamed"].Records != 5 || st.DynamoDBStreamIterators > 3 {
		t.Errorf("stream state %+v, %d iterators; want 5 records, at most 3 iterators", st.DynamoDBStreams, st.DynamoDBStreamIterators)
	}
}

// An EventBridge archive and an SNS topic keep their newest entries only.
func checkArchiveAndTopic(t *testing.T, s *emulator.Server, cfg aws.Config) {
	ctx := context.Background()
	eb := eventbridge.NewFromConfig(cfg)
	bus, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String("archived")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eb.CreateArchive(ctx, &eventbridge.CreateArchiveInput{ArchiveName: aws.String("kept"), EventSourceArn: bus.EventBusArn}); err != nil {
		t.Fatal(err)
	}
	topic, err := sns.NewFromConfig(cfg).CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("sent")})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		if _, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{EventBusName: aws.String("archived"),
			Source: aws.String("t"), DetailType: aws.String("d"), Detail: aws.String(`{"i":` + strconv.Itoa(i) + `}`)}}}); err != nil {
			t.Fatal(err)
		}
		if _, err := sns.NewFromConfig(cfg).Publish(ctx, &sns.PublishInput{TopicArn: topic.TopicArn, Message: aws.String(strconv.Itoa(i))}); err != nil {
			t.Fatal(err)
		}
	}
	st := readStats(t, s)
	if st.Archives["kept"] != 3 || st.Topics[aws.ToString(topic.TopicArn)] != 3 {
		t.Errorf("archive holds %d events, topic %d messages; want 3 each", st.Archives["kept"], st.Topics[aws.ToString(topic.TopicArn)])
	}
}

// awaitStats polls the stats until cond holds (a finished execution is dropped by the
// interpreter's thread, just after DescribeExecution shows it finished).
func awaitStats(t *testing.T, s *emulator.Server, cond func(shimStats) (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, msg := cond(readStats(t, s))
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats never matched within 10s: %s", msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
