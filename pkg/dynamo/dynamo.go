// Package dynamo holds the DynamoDB adapters of orderflow: the order, inventory,
// idempotency, marker and metrics stores. Each store takes the few methods of
// *dynamodb.Client it calls and a table name, and translates conditional-check
// and transaction failures into the domain errors of pkg/order, pkg/inventory
// and pkg/idempotency. It is the one owner of the tables' item layout (Layout):
// tools read and write items through its stores and codecs, never by hand.
package dynamo

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/pkg/retry"
)

// The client interfaces below are satisfied by *dynamodb.Client; tests may pass
// hand-written fakes.
var (
	_ OrderAPI     = (*dynamodb.Client)(nil)
	_ InventoryAPI = (*dynamodb.Client)(nil)
	_ IntakeAPI    = (*dynamodb.Client)(nil)
	_ MarkerAPI    = (*dynamodb.Client)(nil)
	_ MetricsAPI   = (*dynamodb.Client)(nil)
)

// conflictAttempts bounds the tries of a transaction that DynamoDB cancels
// because another transaction touched the same item at the same time (and of
// a write it throttles) when the context has no deadline; maxConflictAttempts
// bounds them when it has one (see tryAgain).
const (
	conflictAttempts    = 8
	maxConflictAttempts = 32
)

// tryAgain reports whether a write that conflicted or was throttled, tried
// attempt+1 times, is tried again (after backoff). Within a Lambda invoke (a
// context with a deadline) it is, until 2 s before the deadline: a message that
// fails comes back only after its queue's visibility timeout (60 s for the
// inventory commands), and after three receives goes to the DLQ, so on a hot
// SKU the invoke's own time is the cheaper place to wait. Without a deadline,
// conflictAttempts tries.
func tryAgain(ctx context.Context, attempt int) bool {
	if _, ok := ctx.Deadline(); ok {
		return attempt+1 < maxConflictAttempts && !nearDeadline(ctx)
	}
	return attempt+1 < conflictAttempts
}

// nearDeadline reports whether ctx ends within 2 s: too late to wait for capacity; the
// call answers its error and the message comes back, instead of the whole batch timing
// out.
func nearDeadline(ctx context.Context) bool {
	d, ok := ctx.Deadline()
	return ok && time.Until(d) < 2*time.Second
}

// isConditionFailed reports whether err is a failed ConditionExpression.
func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// cancellationCodes returns the per-item reason codes of a cancelled
// transaction ("None", "ConditionalCheckFailed", "TransactionConflict", ...),
// in the order of the transaction's items, and false if err is not a
// cancelled transaction.
func cancellationCodes(err error) ([]string, bool) {
	var tce *types.TransactionCanceledException
	if !errors.As(err, &tce) {
		return nil, false
	}
	codes := make([]string, len(tce.CancellationReasons))
	for i, r := range tce.CancellationReasons {
		if r.Code != nil {
			codes[i] = *r.Code
		}
	}
	return codes, true
}

// isTransactionConflict reports whether a cancelled transaction lost a race
// with another one on the same item and may simply be retried.
func isTransactionConflict(err error) bool {
	codes, ok := cancellationCodes(err)
	if !ok {
		var tce *types.TransactionConflictException
		return errors.As(err, &tce)
	}
	for _, c := range codes {
		if c == "TransactionConflict" {
			return true
		}
	}
	return false
}

// isTransient reports whether a write failed for now only and is worth trying again
// after backoff: a transaction cancelled because another one touched an item
// (TransactionConflict) or for capacity (ThrottlingError; the SDK does not retry a
// cancelled transaction), or a write throttled after the SDK's own retries.
func isTransient(err error) bool {
	if isTransactionConflict(err) || isThrottled(err) {
		return true
	}
	codes, _ := cancellationCodes(err)
	for _, c := range codes {
		if c == "ThrottlingError" || c == "ProvisionedThroughputExceeded" {
			return true
		}
	}
	return false
}

// isThrottled reports whether DynamoDB refused a call for capacity.
func isThrottled(err error) bool {
	var pte *types.ProvisionedThroughputExceededException
	if errors.As(err, &pte) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ThrottlingException", "RequestLimitExceeded", "TransactionConflictException":
			return true
		}
	}
	return false
}

// backoff waits a jittered, exponentially growing time before retry number
// attempt (0-based), or returns the context's error.
func backoff(ctx context.Context, attempt int) error {
	return retry.Sleep(ctx, retry.Backoff(attempt+1, 10*time.Millisecond, 640*time.Millisecond))
}

func attrS(s string) *types.AttributeValueMemberS { return &types.AttributeValueMemberS{Value: s} }

func attrN(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// getS returns the string attribute name of item, "" when absent or not a string.
func getS(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// getN returns the integer attribute name of item; absent is 0, a malformed
// number an error.
func getN(item map[string]types.AttributeValue, name string) (int64, error) {
	v, ok := item[name].(*types.AttributeValueMemberN)
	if !ok {
		return 0, nil
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		return 0, errors.New("attribute " + name + ": not an integer: " + v.Value)
	}
	return n, nil
}
