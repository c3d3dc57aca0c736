package emulator_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/tools/emulator"
)

// TestProfile checks that a shim started with ProfileEnv counts each call under its
// service and operation, and that Since leaves only what happened in between.
func TestProfile(t *testing.T) {
	t.Parallel()
	s := start(t, emulator.Options{Env: []string{emulator.ProfileEnv}})
	ctx := context.Background()
	q := sqs.NewFromConfig(emulator.Config(s.Endpoint))
	created, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("profiled")})
	if err != nil {
		t.Fatal(err)
	}
	before, err := emulator.ReadProfile(ctx, s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	for range 7 {
		if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: created.QueueUrl, MessageBody: aws.String("m")}); err != nil {
			t.Fatal(err)
		}
	}
	after, err := emulator.ReadProfile(ctx, s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	d := after.Since(before)
	if len(d.Ops) != 1 || d.Ops[0].Op != "sqs:SendMessage" || d.Ops[0].Count != 7 {
		t.Fatalf("profile since the sends = %+v, want 7 x sqs:SendMessage alone", d.Ops)
	}
	// An operation's times come rounded to the millisecond, the totals do not: a
	// difference of two roundings is off by up to 1 ms.
	if d.Ops[0].CPUS <= 0 || d.ProcessCPU < d.RequestCPU || d.RequestCPU+0.001 < d.Ops[0].CPUS {
		t.Errorf("times do not add up: %+v", d)
	}

	plain := start(t, emulator.Options{})
	if _, err := emulator.ReadProfile(ctx, plain.Endpoint); err == nil || !strings.Contains(err.Error(), emulator.ProfileEnv) {
		t.Errorf("ReadProfile of a shim that does not profile: %v, want an error naming %s", err, emulator.ProfileEnv)
	}
}
