//go:build !lambda.norpc

package saga_test

import (
	"context"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
)

// invoke runs payload through aws-lambda-go's own invocation path: JSON decoding of the
// input, the handler, JSON encoding of the result, and the conversion of a returned error
// into the errorType that Step Functions matches with ErrorEquals.
func invoke(ctx context.Context, handler any, requestID string, payload []byte) (out []byte, errorType, errorMessage string) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	var resp messages.InvokeResponse
	//nolint:staticcheck // Function is deprecated for users but is the exported path to lambdaErrorResponse.
	fn := lambda.NewFunction(lambda.NewHandler(handler))
	_ = fn.Invoke(&messages.InvokeRequest{
		Payload:   payload,
		RequestId: requestID,
		Deadline:  messages.InvokeRequest_Timestamp{Seconds: deadline.Unix(), Nanos: int64(deadline.Nanosecond())},
	}, &resp)
	if resp.Error != nil {
		return nil, resp.Error.Type, resp.Error.Message
	}
	return resp.Payload, "", ""
}
