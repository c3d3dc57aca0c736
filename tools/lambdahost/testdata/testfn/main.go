// Command testfn is the Lambda the lambdahost tests run: its behaviour is chosen by the
// payload's "op".
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

type request struct {
	Op   string   `json:"op"`
	Msg  string   `json:"msg"`
	MS   int      `json:"ms"`
	Code int      `json:"code"`
	Keys []string `json:"keys"`
}

type response struct {
	Msg        string            `json:"msg,omitempty"`
	PID        int               `json:"pid"`
	RequestID  string            `json:"requestId"`
	ARN        string            `json:"arn"`
	DeadlineMS int64             `json:"deadlineMs"`
	Env        map[string]string `json:"env,omitempty"`
}

// OrderInvalid is a typed error: aws-lambda-go reports its type name as errorType.
type OrderInvalid struct{ Reason string }

func (e *OrderInvalid) Error() string { return "order invalid: " + e.Reason }

func handle(ctx context.Context, r request) (response, error) {
	out := response{PID: os.Getpid()}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		out.RequestID, out.ARN = lc.AwsRequestID, lc.InvokedFunctionArn
	}
	if d, ok := ctx.Deadline(); ok {
		out.DeadlineMS = d.UnixMilli()
	}
	switch r.Op {
	case "echo":
		fmt.Println("echo:", r.Msg)
		out.Msg = r.Msg
	case "error":
		return response{}, &OrderInvalid{Reason: r.Msg}
	case "sleep":
		time.Sleep(time.Duration(r.MS) * time.Millisecond)
	case "exit":
		os.Exit(r.Code)
	case "panic":
		panic(r.Msg)
	case "env":
		out.Env = map[string]string{}
		for _, k := range r.Keys {
			out.Env[k] = os.Getenv(k)
		}
	default:
		return response{}, fmt.Errorf("unknown op %q", r.Op)
	}
	return out, nil
}

func main() {
	if os.Getenv("TEST_FAIL_INIT") != "" {
		fmt.Fprintln(os.Stderr, "init failed")
		os.Exit(3)
	}
	if os.Getenv("TEST_SIGTERM") != "" {
		lambda.StartWithOptions(handle, lambda.WithEnableSIGTERM(func() { fmt.Println("got SIGTERM") }))
		return
	}
	lambda.Start(handle)
}
