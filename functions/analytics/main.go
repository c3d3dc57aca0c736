// Command analytics is the order-stream Kinesis consumer: data-lake batches and per-minute
// metrics (pkg/handler/analytics). It only wires the adapters.
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
	"github.com/orderflow/orderflow/pkg/handler/analytics"
	"github.com/orderflow/orderflow/pkg/lake"
	"github.com/orderflow/orderflow/pkg/logging"
	"github.com/orderflow/orderflow/pkg/metrics"
	"github.com/orderflow/orderflow/pkg/s3put"
)

func main() {
	slog.SetDefault(logging.New(context.Background()))
	env, envErr := awsconfig.Require("METRICS_TABLE", "DATA_LAKE_BUCKET")
	cfg, cfgErr := awsconfig.FromEnv()
	if err := errors.Join(envErr, cfgErr); err != nil {
		slog.Error("cold start: bad configuration", "error", err.Error())
		os.Exit(1)
	}
	h := &analytics.Handler{
		// s3put, not the S3 client: PutObject is the only call, and the client is 1 MB of binary.
		Lake:    lake.NewWriter(s3put.New(cfg), env["DATA_LAKE_BUCKET"]),
		Metrics: dynamo.NewMetricsStore(dynamodb.NewFromConfig(cfg), env["METRICS_TABLE"]),
		EMF:     metrics.New(os.Stdout, metrics.DefaultNamespace, map[string]string{"service": metrics.ServiceName()}),
	}
	lambda.Start(h.Handle)
}
