// Command ingest is the HTTP API function: POST /orders, GET /orders/{orderId} and
// GET /orders (pkg/handler/ingest). It only wires the adapters. CUSTOMER_CLAIM, set only
// when ApiAuth=JWT, names the JWT claim that is the calling customer.
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/orderflow/orderflow/pkg/awsconfig"
	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/handler/ingest"
	"github.com/orderflow/orderflow/pkg/logging"
	"github.com/orderflow/orderflow/pkg/metrics"
)

func main() {
	slog.SetDefault(logging.New(context.Background()))
	env, envErr := awsconfig.Require("ORDERS_TABLE", "IDEMPOTENCY_TABLE")
	cfg, cfgErr := awsconfig.FromEnv()
	if err := errors.Join(envErr, cfgErr); err != nil {
		slog.Error("cold start: bad configuration", "error", err.Error())
		os.Exit(1)
	}
	db := dynamodb.NewFromConfig(cfg)
	h := &ingest.Handler{
		Orders:  dynamo.NewOrderStore(db, env["ORDERS_TABLE"]),
		Intake:  dynamo.NewIntakeStore(db, env["ORDERS_TABLE"], env["IDEMPOTENCY_TABLE"]),
		Metrics: metrics.New(os.Stdout, metrics.DefaultNamespace, map[string]string{"service": metrics.ServiceName()}),
		// Empty (IAM): callers are trusted services.
		CustomerClaim: os.Getenv("CUSTOMER_CLAIM"),
	}
	lambda.Start(h.Handle)
}
