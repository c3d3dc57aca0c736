// Command process is the order-processing state machine's task function: validate,
// authorize, reject and cancel (pkg/handler/process). It only wires the adapters.
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strconv"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/orderflow/orderflow/pkg/awsconfig"
	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/handler/process"
	"github.com/orderflow/orderflow/pkg/logging"
	"github.com/orderflow/orderflow/pkg/payment"
)

func main() {
	slog.SetDefault(logging.New(context.Background()))
	env, envErr := awsconfig.Require("ORDERS_TABLE", "INVENTORY_TABLE")
	cfg, cfgErr := awsconfig.FromEnv()
	limit, limitErr := strconv.ParseInt(awsconfig.Getenv("PAYMENT_LIMIT", strconv.FormatInt(payment.DefaultLimit, 10)), 10, 64)
	soldOut, soldOutErr := strconv.ParseBool(awsconfig.Getenv("SOLD_OUT_SHORTCUT", "false"))
	if err := errors.Join(envErr, cfgErr, limitErr, soldOutErr); err != nil {
		slog.Error("cold start: bad configuration", "error", err.Error())
		os.Exit(1)
	}
	db := dynamodb.NewFromConfig(cfg)
	h := &process.Handler{
		Orders:   dynamo.NewOrderStore(db, env["ORDERS_TABLE"]),
		Catalog:  dynamo.NewInventoryStore(db, env["INVENTORY_TABLE"]),
		Payments: payment.Gateway{Limit: limit},
		// SOLD_OUT_SHORTCUT (template parameter SoldOutShortCut): off when unset.
		SoldOutShortCut: soldOut,
	}
	lambda.Start(h.Handle)
}
