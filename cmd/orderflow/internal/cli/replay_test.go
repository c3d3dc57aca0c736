package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/orderflow/orderflow/tools/awstest"
)

// replayed reads (and deletes) every message of a queue and returns the eventIds, sorted,
// failing on an event that is not a replay's.
func replayed(t *testing.T, c *sqs.Client, url, replay string) []string {
	t.Helper()
	var ids []string
	for {
		out, err := c.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			slices.Sort(ids)
			return ids
		}
		for _, m := range out.Messages {
			var ev struct {
				Replay string `json:"replay-name"`
				Detail struct {
					Metadata struct {
						EventID string `json:"eventId"`
					} `json:"metadata"`
				} `json:"detail"`
			}
			if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &ev); err != nil {
				t.Fatalf("message %s: %v", aws.ToString(m.Body), err)
			}
			if ev.Replay != replay {
				t.Errorf("event %s has replay-name %q, want %q", ev.Detail.Metadata.EventID, ev.Replay, replay)
			}
			ids = append(ids, ev.Detail.Metadata.EventID)
			if _, err := c.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(url), ReceiptHandle: m.ReceiptHandle}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// `events replay` replays the archive's events of its window, and only to the rules it
// picks: by --detail-type (a rule listing it, and a rule that may match it because it
// does not filter on detail-type) or by --rule.
func TestEventsReplay(t *testing.T) {
	env := awstest.Env(t)
	ctx := context.Background()
	eb, sq := eventbridge.NewFromConfig(env.Config), sqs.NewFromConfig(env.Config)
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	bus := "replay-bus-" + run
	busOut, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String(bus)})
	if err != nil {
		t.Fatal(err)
	}
	archive := "replay-" + run
	if _, err := eb.CreateArchive(ctx, &eventbridge.CreateArchiveInput{ArchiveName: aws.String(archive), EventSourceArn: busOut.EventBusArn,
		EventPattern: aws.String(`{"source":["myapp.orders"]}`)}); err != nil {
		t.Fatal(err)
	}
	rules := map[string]string{ // rule name -> pattern
		"confirmed": `{"source":["myapp.orders"],"detail-type":["Order Confirmed"]}`,
		"created":   `{"source":["myapp.orders"],"detail-type":["Order Created"]}`,
		"all":       `{"source":["myapp.orders"]}`,
		"elsewhere": `{"source":["someone.else"]}`,
	}
	queues := map[string]string{}
	for name, pattern := range rules {
		q := env.CreateQueue(t, awstest.QueueSpec{Name: env.Name(t, name)})
		queues[name] = q.URL
		if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String(name), EventBusName: aws.String(bus), EventPattern: aws.String(pattern)}); err != nil {
			t.Fatal(err)
		}
		if out, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String(name), EventBusName: aws.String(bus),
			Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String(q.ARN)}}}); err != nil || out.FailedEntryCount > 0 {
			t.Fatalf("put targets: %v %+v", err, out)
		}
	}
	// Five events an hour apart at most: o1 and o2 created and confirmed, o3 confirmed.
	base := time.Now().UTC().Add(-3 * time.Hour).Truncate(time.Second)
	var entries []ebtypes.PutEventsRequestEntry
	for _, e := range []struct {
		id, detailType string
		at             time.Duration
	}{{"o1:PENDING", "Order Created", 0}, {"o1:CONFIRMED", "Order Confirmed", 0},
		{"o2:PENDING", "Order Created", time.Hour}, {"o2:CONFIRMED", "Order Confirmed", time.Hour},
		{"o3:CONFIRMED", "Order Confirmed", 2 * time.Hour}} {
		entries = append(entries, ebtypes.PutEventsRequestEntry{EventBusName: aws.String(bus), Source: aws.String("myapp.orders"),
			DetailType: aws.String(e.detailType), Time: aws.Time(base.Add(e.at)),
			Detail: aws.String(fmt.Sprintf(`{"metadata":{"eventId":%q}}`, e.id))})
	}
	if out, err := eb.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries}); err != nil || out.FailedEntryCount > 0 {
		t.Fatalf("put events: %v %+v", err, out)
	}
	for name, url := range queues { // the first delivery
		replayed(t, sq, url, "")
		_ = name
	}

	at := func(d time.Duration) string { return base.Add(d).Format(time.RFC3339) }
	cases := []struct {
		name string
		args []string
		want map[string][]string // queue -> replayed eventIds
	}{
		{"confirmed in the middle hour", []string{"--from", at(30 * time.Minute), "--to", at(90 * time.Minute), "--detail-type", "Order Confirmed"},
			map[string][]string{"confirmed": {"o2:CONFIRMED"}, "all": {"o2:CONFIRMED", "o2:PENDING"}}},
		{"one rule, the whole window", []string{"--from", at(-time.Minute), "--to", at(3 * time.Hour), "--rule", "created"},
			map[string][]string{"created": {"o1:PENDING", "o2:PENDING"}}},
		{"every rule, the last event", []string{"--from", at(119 * time.Minute), "--to", at(121 * time.Minute)},
			map[string][]string{"confirmed": {"o3:CONFIRMED"}, "all": {"o3:CONFIRMED"}}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			name := fmt.Sprintf("r%d-%s", i, run)
			code, out, errOut := runCLI(t, env, append([]string{"events", "replay", "--bus", bus, "--archive", archive, "--name", name}, c.args...)...)
			if code != ExitOK {
				t.Fatalf("exit %d: %s %s", code, out, errOut)
			}
			for q, url := range queues {
				if got := replayed(t, sq, url, name); !slices.Equal(got, c.want[q]) {
					t.Errorf("rule %s got %v, want %v (stderr %s)", q, got, c.want[q], errOut)
				}
			}
		})
	}

	t.Run("no rule matches", func(t *testing.T) {
		code, _, errOut := runCLI(t, env, "events", "replay", "--bus", bus, "--archive", archive, "--name", "none-"+run,
			"--from", at(0), "--to", at(time.Hour), "--detail-type", "Order Rejected", "--event-source", "nobody")
		if code != ExitError {
			t.Errorf("exit %d, want %d: %s", code, ExitError, errOut)
		}
	})
	t.Run("bad window", func(t *testing.T) {
		if code, _, _ := runCLI(t, env, "events", "replay", "--bus", bus, "--from", at(time.Hour), "--to", at(0)); code != ExitUsage {
			t.Errorf("exit %d, want %d", code, ExitUsage)
		}
	})
}
