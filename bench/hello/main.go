// Command hello is the baseline of `make bench`: the smallest aws-lambda-go function,
// built and measured exactly like orderflow's functions (binary size, cold start).
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
)

// response is what hello answers to any event.
type response struct {
	Message string `json:"message"`
}

func handle(context.Context, map[string]any) (response, error) {
	return response{Message: "hello"}, nil
}

func main() {
	lambda.Start(handle)
}
