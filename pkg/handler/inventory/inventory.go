// Package inventory is the inventory function's handler: it consumes the inventory-commands
// SQS queue, reserves or releases an order's stock and answers the waiting Step Functions
// task through its task token.
//
// Every message is settled on its own. A message that can never succeed (malformed body,
// unknown command) and a message whose store or callback call failed transiently are both
// reported in batchItemFailures: SQS retries them alone, and the malformed ones reach the
// DLQ after the redrive count with their reason in the log. A handler cannot delete a
// message itself, and reporting it is what keeps it visible in the DLQ for inspection.
package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/events"

	stock "github.com/orderflow/orderflow/pkg/inventory"
	"github.com/orderflow/orderflow/pkg/logging"
	"github.com/orderflow/orderflow/pkg/order"
)

// Commands an inventory message may carry (docs/CONTRACTS.md, "Inventory command").
const (
	CommandReserve = "reserve"
	CommandRelease = "release"
)

// DefaultConcurrency is how many messages of one batch are processed at the same time
// when Handler.Concurrency is not set. Each message costs one DynamoDB transaction and one
// Step Functions call; a few in flight cut a batch's latency without a burst of throttles.
const DefaultConcurrency = 4

// Command is the body of an inventory message. Lines may carry more fields than SKU and
// quantity (the state machine passes the priced order lines); those are ignored.
type Command struct {
	Command       string       `json:"command"`
	OrderID       string       `json:"orderId"`
	CorrelationID string       `json:"correlationId,omitempty"`
	Lines         []stock.Line `json:"lines,omitempty"`
	TaskToken     string       `json:"taskToken,omitempty"`
}

// Store reserves and releases stock. Reserve takes every line or none and returns
// *inventory.OutOfStockError when a line is short; both calls are idempotent per order.
type Store interface {
	Reserve(ctx context.Context, orderID string, lines []stock.Line) error
	Release(ctx context.Context, orderID string) error
}

// Callbacks answers a waiting Step Functions task. Both calls return
// order.ErrTokenGone when the execution no longer waits for the token.
type Callbacks interface {
	Succeed(ctx context.Context, token string, output any) error
	Fail(ctx context.Context, token, errName, cause string) error
}

// Handler processes batches of inventory commands. Store and Tokens are required;
// Concurrency defaults to DefaultConcurrency and Log to slog.Default.
type Handler struct {
	Store       Store
	Tokens      Callbacks
	Concurrency int
	Log         *slog.Logger
}

// Reserved is the task output of a successful reserve.
type Reserved struct {
	OrderID  string `json:"orderId"`
	Reserved bool   `json:"reserved"`
}

// Released is the task output of a successful release.
type Released struct {
	OrderID  string `json:"orderId"`
	Released bool   `json:"released"`
}

// MalformedError is a message body that can never be processed. It is reported like a
// transient failure, so the message reaches the DLQ after the redrive count.
type MalformedError struct {
	Reason string
}

func (e *MalformedError) Error() string { return "malformed inventory command: " + e.Reason }

// Handle processes every message of the batch and reports the ones to retry in
// BatchItemFailures. It never fails the whole batch: its error is always nil.
func (h *Handler) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	n := h.Concurrency
	if n <= 0 {
		n = DefaultConcurrency
	}
	failed := make([]bool, len(ev.Records))
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for i := range ev.Records {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int) {
			defer func() { <-sem; wg.Done() }()
			failed[i] = !h.message(ctx, ev.Records[i])
		}(i)
	}
	wg.Wait()

	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for i, f := range failed {
		if f {
			resp.BatchItemFailures = append(resp.BatchItemFailures,
				events.SQSBatchItemFailure{ItemIdentifier: ev.Records[i].MessageId})
		}
	}
	return resp, nil
}

// message settles one message and reports whether it is done (true) or must be retried.
func (h *Handler) message(ctx context.Context, m events.SQSMessage) bool {
	log := h.logger().With("messageId", m.MessageId, "receiveCount", m.Attributes["ApproximateReceiveCount"])
	cmd, err := Decode([]byte(m.Body))
	if err != nil {
		// Permanent: retried until the redrive policy moves it to the DLQ, where it can be
		// inspected; the reason is only in this log line.
		log.ErrorContext(ctx, "inventory command rejected; it goes to the DLQ after the redrive count",
			"error", err.Error())
		return false
	}
	ctx = logging.WithOrder(ctx, cmd.OrderID, cmd.CorrelationID) // for the adapters' log lines too
	log = log.With("orderId", cmd.OrderID, "correlationId", cmd.CorrelationID, "command", cmd.Command)
	if err := h.run(ctx, cmd); err != nil {
		if errors.Is(err, order.ErrTokenGone) {
			// The execution timed out or was stopped; the store effect is idempotent and the
			// state machine's own timeout path compensates. Retrying cannot deliver the answer.
			log.WarnContext(ctx, "task token no longer valid; command done without an answer", "error", err.Error())
			return true
		}
		log.WarnContext(ctx, "inventory command failed; will be retried", "error", err.Error())
		return false
	}
	log.InfoContext(ctx, "inventory command done")
	return true
}

// run applies cmd and answers its task token.
func (h *Handler) run(ctx context.Context, cmd Command) error {
	switch cmd.Command {
	case CommandReserve:
		err := h.Store.Reserve(ctx, cmd.OrderID, cmd.Lines)
		var oos *stock.OutOfStockError
		if errors.As(err, &oos) {
			return h.fail(ctx, cmd, stock.ErrorName, fmt.Sprintf("out of stock: %s", strings.Join(oos.SKUs, ", ")))
		}
		if err != nil {
			return fmt.Errorf("reserve order %s: %w", cmd.OrderID, err)
		}
		return h.succeed(ctx, cmd, Reserved{OrderID: cmd.OrderID, Reserved: true})
	case CommandRelease:
		if err := h.Store.Release(ctx, cmd.OrderID); err != nil {
			return fmt.Errorf("release order %s: %w", cmd.OrderID, err)
		}
		return h.succeed(ctx, cmd, Released{OrderID: cmd.OrderID, Released: true})
	}
	return &MalformedError{Reason: fmt.Sprintf("unknown command %q", cmd.Command)} // Decode rules this out
}

func (h *Handler) succeed(ctx context.Context, cmd Command, out any) error {
	if cmd.TaskToken == "" {
		return nil
	}
	if err := h.Tokens.Succeed(ctx, cmd.TaskToken, out); err != nil {
		return fmt.Errorf("send task success for order %s: %w", cmd.OrderID, err)
	}
	return nil
}

func (h *Handler) fail(ctx context.Context, cmd Command, name, cause string) error {
	if cmd.TaskToken == "" {
		return nil
	}
	if err := h.Tokens.Fail(ctx, cmd.TaskToken, name, cause); err != nil {
		return fmt.Errorf("send task failure for order %s: %w", cmd.OrderID, err)
	}
	return nil
}

func (h *Handler) logger() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

// Decode parses and checks a message body. It returns *MalformedError for a body that is
// not a JSON object, an unknown command, a missing orderId, or (for reserve) lines that
// inventory.Validate refuses. Release needs no lines: the reservation record holds them,
// so lines on a release are not checked.
func Decode(body []byte) (Command, error) {
	var cmd Command
	if len(strings.TrimSpace(string(body))) == 0 {
		return cmd, &MalformedError{Reason: "empty body"}
	}
	if err := json.Unmarshal(body, &cmd); err != nil {
		return cmd, &MalformedError{Reason: "body is not a JSON command: " + err.Error()}
	}
	if cmd.OrderID == "" {
		return cmd, &MalformedError{Reason: "orderId is required"}
	}
	switch cmd.Command {
	case CommandReserve:
		if err := stock.Validate(cmd.Lines); err != nil {
			return cmd, &MalformedError{Reason: "lines: " + err.Error()}
		}
	case CommandRelease:
	default:
		return cmd, &MalformedError{Reason: fmt.Sprintf("unknown command %q", cmd.Command)}
	}
	return cmd, nil
}
