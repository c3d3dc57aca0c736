package stack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/cli"
	"github.com/orderflow/orderflow/events/orderevents"
	"github.com/orderflow/orderflow/examples/loyalty"
	"github.com/orderflow/orderflow/tools/awstest"
)

// consumerStack runs the stack with the example consumer (examples/loyalty) beside it.
func consumerStack(t *testing.T) *pathsStack {
	t.Helper()
	root := repoRoot(t)
	s := up(t, Options{Build: true, Dir: root, VisibilityTimeout: 2 * time.Second,
		Templates: []string{filepath.Join(root, "examples", "loyalty", "template.yaml")}})
	t.Cleanup(func() { s.Close() })
	return &pathsStack{Stack: s, ddb: dynamodb.NewFromConfig(s.Config), sqs: sqs.NewFromConfig(s.Config),
		http: &http.Client{Timeout: 30 * time.Second}}
}

// loyaltyBalances reads every customer's points and the credited events' markers.
func loyaltyBalances(t *testing.T, p *pathsStack) (points map[string]int64, markers int) {
	t.Helper()
	points = map[string]int64{}
	for _, raw := range scan(t, p.Stack, p.Tables["loyalty/LoyaltyTable"]) {
		var it struct { // the example's own table, not orderflow's (pkg/dynamo)
			PK     string `dynamodbav:"pk"`
			Points int64  `dynamodbav:"points"`
		}
		if err := attributevalue.UnmarshalMap(raw, &it); err != nil {
			t.Fatalf("loyalty item %v: %v", raw, err)
		}
		pk := it.PK
		switch {
		case strings.HasPrefix(pk, loyalty.CustomerKey("")):
			points[strings.TrimPrefix(pk, loyalty.CustomerKey(""))] = it.Points
		case strings.HasPrefix(pk, loyalty.EventKey("")):
			markers++
		}
	}
	return points, markers
}

// The example consumer runs beside the stack from its own template, and credits each
// Order Confirmed once: orders go through the main stack, the loyalty rule on its bus
// feeds the loyalty queue, and a second and third delivery of every event (sent to the
// queue as EventBridge sent it) change nothing.
func TestExampleConsumerCreditsOncePerEvent(t *testing.T) {
	p := consumerStack(t)
	for _, want := range []string{"loyalty/LoyaltyTable", "loyalty/ConfirmedOrdersQueue", "loyalty/ConfirmedOrdersDlq"} {
		if p.Tables[want] == "" && p.Queues[want] == "" {
			t.Fatalf("%s not provisioned (tables %v, queues %v)", want, p.Tables, p.Queues)
		}
	}
	if p.Functions["loyalty/LoyaltyFunction"] == "" {
		t.Fatalf("loyalty function not registered: %v", p.Functions)
	}
	busQ := captureBus(t, p.Stack, e2eSource)
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	a, b, c := "loyal-a-"+run, "loyal-b-"+run, "loyal-c-"+run
	plan := []struct {
		customer, token string
		lines           []e2eLine
		status          string
	}{
		{a, "tok_visa", []e2eLine{{"SKU-MUG-001", 2}}, "CONFIRMED"},
		{a, "tok_visa", []e2eLine{{"SKU-TEE-002", 1}, {"SKU-MUG-001", 1}}, "CONFIRMED"},
		{b, "tok_visa", []e2eLine{{"SKU-TEE-002", 3}}, "CONFIRMED"},
		{c, "tok_decline", []e2eLine{{"SKU-MUG-001", 1}}, "CANCELLED"}, // payment declined after the reservation
	}
	ids := map[string][]string{}
	confirmed := map[string]bool{}
	for i, o := range plan {
		r := post(p.http, p.HTTPURL, fmt.Sprintf("loyalty-%s-%d", run, i), orderBody(o.customer, o.token, o.lines...))
		if r.status != http.StatusAccepted {
			t.Fatalf("order %d: %d %s %v", i, r.status, r.body, r.err)
		}
		id := path.Base(r.location)
		ids[o.status] = append(ids[o.status], id)
		if o.status == "CONFIRMED" {
			confirmed[id] = true
		}
	}
	for status, list := range ids {
		p.waitStatus(t, list, status, 90*time.Second)
	}

	// What the consumer must credit, from the events on the bus (not from the consumer).
	// The wait is also for the cancelled order's Order Cancelled: every event of the plan
	// is then on the capture queue, so none arrives late among the replayed ones below.
	bodies := map[string]string{} // Order Confirmed by dedupe key
	want := map[string]int64{}
	cancelled := map[string]bool{}
	awstest.Eventually(t, 60*time.Second, func() (bool, string) {
		if err := busQ.drain(context.Background()); err != nil {
			return false, err.Error()
		}
		for _, body := range busQ.bodies {
			ev, err := orderevents.Parse([]byte(body))
			if err != nil {
				t.Fatalf("event on the bus: %v\n%s", err, body)
			}
			if ev.DetailType == orderevents.OrderConfirmed && confirmed[ev.Data.OrderID] && bodies[ev.DedupeKey()] == "" {
				bodies[ev.DedupeKey()] = body
				want[ev.Data.CustomerID] += loyalty.Points(ev.Data.Total)
			}
			if ev.DetailType == orderevents.OrderCancelled && slices.Contains(ids["CANCELLED"], ev.Data.OrderID) {
				cancelled[ev.Data.OrderID] = true
			}
		}
		return len(bodies) == len(confirmed) && len(cancelled) == len(ids["CANCELLED"]),
			fmt.Sprintf("%d Order Confirmed and %d Order Cancelled on the bus, want %d and %d", len(bodies), len(cancelled), len(confirmed), len(ids["CANCELLED"]))
	})
	if want[a] == 0 || want[b] == 0 {
		t.Fatalf("orders of a and b earn %v: the plan must earn points", want)
	}
	credited := func(when string) {
		t.Helper()
		awstest.Eventually(t, 60*time.Second, func() (bool, string) {
			got, markers := loyaltyBalances(t, p)
			if len(got) != len(want) || markers != len(bodies) {
				return false, fmt.Sprintf("%s: points %v and %d markers, want %v and %d", when, got, markers, want, len(bodies))
			}
			for cust, n := range want {
				if got[cust] != n {
					return false, fmt.Sprintf("%s: %s has %d points, want %d", when, cust, got[cust], n)
				}
			}
			return true, ""
		})
	}
	credited("first delivery")

	// Duplicate deliveries: every Order Confirmed twice more, as EventBridge delivered it.
	queue := p.Queues["loyalty/ConfirmedOrdersQueue"]
	for range 2 {
		for _, body := range bodies {
			if _, err := p.sqs.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(queue), MessageBody: aws.String(body)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Consumed (a message leaves the queue only when the function succeeded on it) ...
	awstest.Eventually(t, 60*time.Second, func() (bool, string) {
		v, f := p.queueDepth(t, queue)
		return v == 0 && f == 0, fmt.Sprintf("loyalty queue: %d visible, %d in flight", v, f)
	})
	// ... and changed nothing.
	credited("after duplicate deliveries")
	if v, f := p.queueDepth(t, p.Queues["loyalty/ConfirmedOrdersDlq"]); v+f != 0 {
		t.Errorf("loyalty DLQ holds %d messages", v+f)
	}

	// A replay of the archive to the consumer's rule: the events arrive again (the queue
	// sees them), and the balances stay.
	var stdout, stderr bytes.Buffer
	from := time.Now().UTC().Add(-10 * time.Minute).Format(time.RFC3339)
	if code := cli.Run(context.Background(), []string{"events", "replay", "--aws-endpoint", p.EmulatorURL, "--from", from,
		"--detail-type", "Order Confirmed", "--name", "loyalty-" + run}, &stdout, &stderr); code != cli.ExitOK {
		t.Fatalf("events replay: exit %d: %s %s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "loyalty-dev-order-confirmed") {
		t.Errorf("the replay did not pick the loyalty rule: %s", stderr.String())
	}
	// The test's capture rule matches every detail-type, so it was picked too: it shows
	// what the replay sent.
	busQ.bodies = map[string]string{}
	if err := busQ.drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	again := map[string]bool{}
	for _, body := range busQ.bodies {
		var ev struct {
			Replay string `json:"replay-name"`
		}
		parsed, err := orderevents.Parse([]byte(body))
		if err := errors.Join(err, json.Unmarshal([]byte(body), &ev)); err != nil || ev.Replay != "loyalty-"+run {
			t.Fatalf("after the replay the bus sent %v (replay-name %q): %s", err, ev.Replay, body)
		}
		if parsed.DetailType == orderevents.OrderConfirmed && bodies[parsed.DedupeKey()] != "" {
			again[parsed.DedupeKey()] = true
		}
	}
	if len(again) != len(bodies) {
		t.Errorf("the replay sent %d of the %d Order Confirmed", len(again), len(bodies))
	}
	awstest.Eventually(t, 60*time.Second, func() (bool, string) {
		v, f := p.queueDepth(t, queue)
		return v == 0 && f == 0, fmt.Sprintf("loyalty queue after the replay: %d visible, %d in flight", v, f)
	})
	credited("after a replay")
}
