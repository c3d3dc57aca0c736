package emulator_test

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/tools/awstest"
	"github.com/orderflow/orderflow/tools/emulator"
)

// TestSpeedFixesKeepAnswers runs one script against the shim and against unpatched moto
// (MOTO_SHIM_DISABLE=1) and wants the same answers: the shim's speed fixes (13: ASL
// parse trees kept per definition, 14: one boto client per service, 16: the module
// list read once, 18: SQS attributes computed when read, receives that stop at their
// ten) change how long moto takes, never what it says. The shim's status line must
// name each fix, and the request log (17) is off unless asked for.
func TestSpeedFixesKeepAnswers(t *testing.T) {
	t.Parallel()
	answers := map[string][]string{}
	for _, name := range []string{"shim", "unpatched moto"} {
		var env []string
		if name != "shim" {
			env = []string{"MOTO_SHIM_DISABLE=1"}
		}
		var log awstest.SyncBuffer
		s := start(t, emulator.Options{Env: env, Log: &log})
		answers[name] = speedScript(t, emulator.Config(s.Endpoint), name == "shim")
		status := shimStatus(t, &log)
		if name == "shim" {
			for _, want := range []string{"cached asl parse trees", "reused boto clients", "module list read once",
				"sqs attributes built once per call", "request log off"} {
				if !strings.Contains(status, want) {
					t.Errorf("shim status %q does not say %q", status, want)
				}
			}
			if strings.Contains(log.String(), "POST / HTTP") {
				t.Errorf("the request log is on:\n%s", log.String())
			}
		}
	}
	if !reflect.DeepEqual(answers["shim"], answers["unpatched moto"]) {
		t.Errorf("answers differ\nshim:      %q\nunpatched: %q", answers["shim"], answers["unpatched moto"])
	}
}

// speedScript returns what moto answers to SQS and Step Functions calls whose handling
// the speed fixes change.
func speedScript(t *testing.T, cfg aws.Config, shimmed bool) []string {
	ctx := context.Background()
	var out []string
	q := sqs.NewFromConfig(cfg)
	created, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("speed"),
		Attributes: map[string]string{"VisibilityTimeout": "30", "MessageRetentionPeriod": "600"}})
	if err != nil {
		t.Fatal(err)
	}
	url := created.QueueUrl
	for i := range 25 {
		in := &sqs.SendMessageInput{QueueUrl: url, MessageBody: aws.String(fmt.Sprintf("m%02d", i))}
		if i == 24 {
			in.DelaySeconds = 60
		}
		if _, err := q.SendMessage(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	got, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: url, MaxNumberOfMessages: 10})
	if err != nil {
		t.Fatal(err)
	}
	bodies := []string{}
	for _, m := range got.Messages {
		bodies = append(bodies, aws.ToString(m.Body))
	}
	out = append(out, "received "+strings.Join(bodies, ","))
	if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: url, ReceiptHandle: got.Messages[0].ReceiptHandle}); err != nil {
		t.Fatal(err)
	}
	for _, names := range [][]sqstypes.QueueAttributeName{
		{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed},
		{sqstypes.QueueAttributeNameMessageRetentionPeriod, sqstypes.QueueAttributeNameVisibilityTimeout, sqstypes.QueueAttributeNamePolicy},
	} {
		a, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: url, AttributeNames: names})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprint(a.Attributes))
	}
	all, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: url,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameAll}})
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{}
	for k := range all.Attributes {
		keys = append(keys, k)
	}
	out = append(out, fmt.Sprint(len(keys), " attributes, ", all.Attributes["ApproximateNumberOfMessages"]))
	if _, err := q.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: url,
		AttributeNames: []sqstypes.QueueAttributeName{"NoSuchAttribute"}}); err != nil {
		out = append(out, "bad name refused")
	}

	// Machines with different definitions: each runs its own, and after
	// UpdateStateMachine the new one. Unpatched moto runs one execution in all
	// (getmoto/moto#10077), so the rest is checked on the shim alone.
	c := sfn.NewFromConfig(cfg)
	def := func(result string) string {
		return `{"StartAt":"P","States":{"P":{"Type":"Pass","Result":"` + result + `","End":true}}}`
	}
	run := func(arn *string, name string) string {
		ex, err := c.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: arn, Name: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(waitSucceeded(t, c, aws.ToString(ex.ExecutionArn)).Output)
	}
	for i, result := range []string{"first", "second", "first"} {
		sm, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String(fmt.Sprint("speed", i)),
			Definition: aws.String(def(result)), RoleArn: aws.String("arn:aws:iam::123456789012:role/sfn")})
		if err != nil {
			t.Fatal(err)
		}
		got := run(sm.StateMachineArn, "run")
		if i == 0 {
			out = append(out, "output "+got)
		}
		if !shimmed {
			break
		}
		if !strings.Contains(got, result) {
			t.Errorf("machine %d answered %s, want %s", i, got, result)
		}
		if i == 0 { // a changed definition: the next execution runs the new one
			if _, err := c.UpdateStateMachine(ctx, &sfn.UpdateStateMachineInput{StateMachineArn: sm.StateMachineArn,
				Definition: aws.String(def("updated"))}); err != nil {
				t.Fatal(err)
			}
			if got := run(sm.StateMachineArn, "again"); !strings.Contains(got, "updated") {
				t.Errorf("after UpdateStateMachine the execution answered %s, want updated", got)
			}
		}
	}
	if _, err := c.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("broken"),
		Definition: aws.String(`{"StartAt":"P","States":{"P":{"Type":"Nope"}}}`), RoleArn: aws.String("arn:aws:iam::123456789012:role/sfn")}); err != nil {
		out = append(out, "broken definition refused")
	}
	return out
}
