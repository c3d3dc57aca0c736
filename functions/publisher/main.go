// Command publisher is the orders table's stream function: it publishes every business
// event from a committed change of an order (pkg/handler/publisher). It only wires the
// adapters.
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/orderflow/orderflow/pkg/awsconfig"
	"github.com/orderflow/orderflow/pkg/bus"
	"github.com/orderflow/orderflow/pkg/dynamo/streamimage"
	"github.com/orderflow/orderflow/pkg/event"
	"github.com/orderflow/orderflow/pkg/handler/publisher"
	"github.com/orderflow/orderflow/pkg/logging"
	"github.com/orderflow/orderflow/pkg/metrics"
)

func main() {
	slog.SetDefault(logging.New(context.Background()))
	env, envErr := awsconfig.Require("EVENT_BUS_NAME")
	cfg, cfgErr := awsconfig.FromEnv()
	if err := errors.Join(envErr, cfgErr); err != nil {
		slog.Error("cold start: bad configuration", "error", err.Error())
		os.Exit(1)
	}
	h := &publisher.Handler{
		Decode:  streamimage.Order,
		Events:  bus.NewPublisher(eventbridge.NewFromConfig(cfg), env["EVENT_BUS_NAME"], awsconfig.Getenv("EVENT_SOURCE", event.DefaultSource)),
		Metrics: metrics.New(os.Stdout, metrics.DefaultNamespace, map[string]string{"service": metrics.ServiceName()}),
	}
	lambda.Start(h.Handle)
}
