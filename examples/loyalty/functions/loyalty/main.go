// Command loyalty is the example consumer's function (examples/loyalty): the loyalty
// queue's SQS consumer. It only wires the handler.
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/orderflow/orderflow/examples/loyalty"
	"github.com/orderflow/orderflow/pkg/awsconfig"
	"github.com/orderflow/orderflow/pkg/logging"
)

func main() {
	slog.SetDefault(logging.New(context.Background()))
	env, envErr := awsconfig.Require("LOYALTY_TABLE")
	cfg, cfgErr := awsconfig.FromEnv()
	if err := errors.Join(envErr, cfgErr); err != nil {
		slog.Error("cold start: bad configuration", "error", err.Error())
		os.Exit(1)
	}
	h := &loyalty.Handler{DB: dynamodb.NewFromConfig(cfg), Table: env["LOYALTY_TABLE"]}
	lambda.Start(h.Handle)
}
