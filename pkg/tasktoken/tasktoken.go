// Package tasktoken answers Step Functions callback tasks (.waitForTaskToken): success,
// failure and heartbeat, with the "nobody waits any more" answers folded into order.ErrTokenGone.
package tasktoken

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/smithy-go"

	"github.com/orderflow/orderflow/pkg/order"
)

// API is the part of *sfn.Client a Client uses.
type API interface {
	SendTaskSuccess(ctx context.Context, in *sfn.SendTaskSuccessInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskSuccessOutput, error)
	SendTaskFailure(ctx context.Context, in *sfn.SendTaskFailureInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskFailureOutput, error)
	SendTaskHeartbeat(ctx context.Context, in *sfn.SendTaskHeartbeatInput, optFns ...func(*sfn.Options)) (*sfn.SendTaskHeartbeatOutput, error)
}

// Limits Step Functions puts on SendTaskFailure.
const (
	MaxErrorLen = 256
	MaxCauseLen = 32768
)

// goneCodes are the error codes meaning nobody waits for the token.
var goneCodes = map[string]bool{
	"TaskTimedOut":     true,
	"TaskDoesNotExist": true,
	"InvalidToken":     true,
}

// Client answers callback tasks.
type Client struct {
	c API
}

// NewClient returns a Client.
func NewClient(c API) *Client {
	return &Client{c: c}
}

// Succeed completes the task with output encoded by encoding/json (a json.RawMessage is
// sent as it is; nil sends {}). It returns an error wrapping order.ErrTokenGone when nobody
// waits for token, an encoding error, or the Step Functions error, wrapped.
func (c *Client) Succeed(ctx context.Context, token string, output any) error {
	out := []byte("{}")
	if output != nil {
		b, err := json.Marshal(output)
		if err != nil {
			return fmt.Errorf("send task success: encode output: %w", err)
		}
		out = b
	}
	_, err := c.c.SendTaskSuccess(ctx, &sfn.SendTaskSuccessInput{TaskToken: aws.String(token), Output: aws.String(string(out))})
	return translate("send task success", err)
}

// Fail fails the task with errName (what the state machine's Catch matches) and cause,
// truncated to Step Functions' limits. It returns an error wrapping order.ErrTokenGone when
// nobody waits for token, or the Step Functions error, wrapped.
func (c *Client) Fail(ctx context.Context, token, errName, cause string) error {
	_, err := c.c.SendTaskFailure(ctx, &sfn.SendTaskFailureInput{
		TaskToken: aws.String(token),
		Error:     aws.String(truncate(errName, MaxErrorLen)),
		Cause:     aws.String(truncate(cause, MaxCauseLen)),
	})
	return translate("send task failure", err)
}

// Heartbeat tells Step Functions the task is still being worked on. It returns an error
// wrapping order.ErrTokenGone when nobody waits for token, or the Step Functions error, wrapped.
func (c *Client) Heartbeat(ctx context.Context, token string) error {
	_, err := c.c.SendTaskHeartbeat(ctx, &sfn.SendTaskHeartbeatInput{TaskToken: aws.String(token)})
	return translate("send task heartbeat", err)
}

func translate(op string, err error) error {
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && goneCodes[ae.ErrorCode()] {
		return fmt.Errorf("%s: %w: %w", op, order.ErrTokenGone, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// truncate cuts s to at most n runes (Step Functions counts characters).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}

var _ API = (*sfn.Client)(nil)
