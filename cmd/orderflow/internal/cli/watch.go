package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/buscapture"
	"github.com/orderflow/orderflow/pkg/event"
)

// watchQueueAPI is what `orders watch` needs of SQS.
type watchQueueAPI interface {
	buscapture.QueueAPI
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error)
}

// watcher follows the events of one bus through a temporary rule and queue.
type watcher struct {
	Queue   watchQueueAPI
	Bus     buscapture.RuleAPI
	BusName string
	Source  string
	// OrderID, when set, narrows the rule to that order's events.
	OrderID string
	// Out receives one line per event; Log the progress and clean-up messages.
	Out, Log io.Writer
	// Wait is the long-poll wait of each receive.
	Wait time.Duration
	// Ready, when set, is called once the subscription is in place.
	Ready func()
}

func (e *env) ordersWatch(ctx context.Context, args []string) error {
	sf := &stackFlags{}
	fs := e.newFlagSet("orders watch", sf)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageError("orders watch: at most one argument (ORDER_ID), got %d", len(pos))
	}
	cfg, err := e.awsConfig(sf)
	if err != nil {
		return err
	}
	w := &watcher{
		Queue:   sqs.NewFromConfig(cfg),
		Bus:     eventbridge.NewFromConfig(cfg),
		BusName: sf.bus(),
		Source:  sf.EventSource,
		Out:     e.stdout,
		Log:     e.stderr,
		Wait:    5 * time.Second,
	}
	if len(pos) == 1 {
		w.OrderID = pos[0]
	}
	return w.Run(ctx)
}

// pattern returns the rule's event pattern.
func (w *watcher) pattern() (string, error) {
	p := map[string]any{"source": []string{w.Source}}
	if w.OrderID != "" {
		p["detail"] = map[string]any{"data": map[string]any{"orderId": []string{w.OrderID}}}
	}
	b, err := json.Marshal(p)
	return string(b), err
}

// Run subscribes, prints events until ctx ends, then deletes the rule and the queue. The
// end of ctx (Ctrl-C) is a normal end: Run then returns the clean-up's error, if any.
func (w *watcher) Run(ctx context.Context) (err error) {
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	name := "orderflow-watch-" + hex.EncodeToString(suffix[:])

	pattern, err := w.pattern()
	if err != nil {
		return err
	}
	c, err := buscapture.New(ctx, w.Queue, w.Bus, w.BusName, name, pattern,
		buscapture.Options{Description: "temporary: orderflow orders watch", Retention: 3600})
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
		defer cancel()
		if cerr := c.Close(cctx); cerr != nil {
			err = errors.Join(err, fmt.Errorf("watch clean-up: %w", cerr))
		} else {
			fmt.Fprintf(w.Log, "removed rule and queue %s\n", name)
		}
	}()
	fmt.Fprintf(w.Log, "watching bus %s (source %s) — Ctrl-C to stop\n", w.BusName, w.Source)
	if w.Ready != nil {
		w.Ready()
	}
	return w.loop(ctx, c.QueueURL)
}

func (w *watcher) loop(ctx context.Context, queueURL string) error {
	for ctx.Err() == nil {
		out, err := w.Queue.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:            aws.String(queueURL),
			MaxNumberOfMessages: 10,
			WaitTimeSeconds:     int32(w.Wait / time.Second),
		})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("watch: receive: %w", err)
		}
		lines := make([]watchLine, 0, len(out.Messages))
		for _, m := range out.Messages {
			lines = append(lines, parseWatchLine(aws.ToString(m.Body)))
		}
		sort.SliceStable(lines, func(i, j int) bool { return lines[i].at.Before(lines[j].at) })
		for _, l := range lines {
			fmt.Fprintln(w.Out, l.text)
		}
		if len(out.Messages) == 0 {
			continue
		}
		entries := make([]sqstypes.DeleteMessageBatchRequestEntry, len(out.Messages))
		for i, m := range out.Messages {
			entries[i] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: m.ReceiptHandle}
		}
		if _, err := w.Queue.DeleteMessageBatch(context.WithoutCancel(ctx), &sqs.DeleteMessageBatchInput{QueueUrl: aws.String(queueURL), Entries: entries}); err != nil {
			fmt.Fprintf(w.Log, "watch: delete printed messages: %v\n", err)
		}
	}
	return nil
}

// watchLine is one event ready to print, with its time for ordering a batch.
type watchLine struct {
	at   time.Time
	text string
}

// busEnvelope is the EventBridge event as a rule delivers it to a queue.
type busEnvelope struct {
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Time       time.Time       `json:"time"`
	Detail     json.RawMessage `json:"detail"`
}

// parseWatchLine renders one delivered event as a terminal line:
// time, detail-type, orderId, status, total and failure reason.
func parseWatchLine(body string) watchLine {
	var env busEnvelope
	if err := json.Unmarshal([]byte(body), &env); err != nil {
		return watchLine{at: time.Now(), text: "?? " + truncate(body, 200)}
	}
	var d event.Detail
	at := env.Time
	if err := json.Unmarshal(env.Detail, &d); err != nil || d.Data.OrderID == "" {
		return watchLine{at: at, text: fmt.Sprintf("%s  %-16s %s", at.Local().Format("15:04:05.000"), env.DetailType, truncate(string(env.Detail), 160))}
	}
	if !d.Metadata.OccurredAt.IsZero() {
		at = d.Metadata.OccurredAt
	}
	reason := string(d.Data.FailureReason)
	if reason == "" {
		reason = "-"
	}
	return watchLine{at: at, text: fmt.Sprintf("%s  %-16s %s  %-10s %14s  %s",
		at.Local().Format("15:04:05.000"), env.DetailType, d.Data.OrderID, d.Data.Status,
		FormatMoney(d.Data.Total, d.Data.Currency), reason)}
}
