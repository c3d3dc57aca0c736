// Command notify is the EventBridge target for Order Confirmed, Cancelled and Rejected: one
// SNS notification per order state change (pkg/handler/notify). It only wires the adapters.
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/orderflow/orderflow/pkg/awsconfig"
	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/handler/notify"
	"github.com/orderflow/orderflow/pkg/logging"
	"github.com/orderflow/orderflow/pkg/topic"
)

func main() {
	slog.SetDefault(logging.New(context.Background()))
	env, envErr := awsconfig.Require("IDEMPOTENCY_TABLE", "TOPIC_ARN")
	cfg, cfgErr := awsconfig.FromEnv()
	if err := errors.Join(envErr, cfgErr); err != nil {
		slog.Error("cold start: bad configuration", "error", err.Error())
		os.Exit(1)
	}
	h := &notify.Handler{
		Markers: dynamo.NewMarkerStore(dynamodb.NewFromConfig(cfg), env["IDEMPOTENCY_TABLE"], dynamo.NotifyMarkerPrefix),
		Topic:   topic.NewPublisher(sns.NewFromConfig(cfg), env["TOPIC_ARN"]),
	}
	lambda.Start(h.Handle)
}
