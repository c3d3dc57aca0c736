// Command inventory is the inventory-commands SQS consumer: it reserves and releases stock
// and answers the waiting state machine (pkg/handler/inventory). It only wires the adapters.
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/orderflow/orderflow/pkg/awsconfig"
	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/handler/inventory"
	"github.com/orderflow/orderflow/pkg/logging"
	"github.com/orderflow/orderflow/pkg/tasktoken"
)

// conditionalConcurrency is the InventoryCommandsMapping's BatchSize (template.yaml).
const conditionalConcurrency = 10

func main() {
	slog.SetDefault(logging.New(context.Background()))
	env, envErr := awsconfig.Require("INVENTORY_TABLE")
	cfg, cfgErr := awsconfig.FromEnv()
	// INVENTORY_STRATEGY (template parameter InventoryStrategy): transaction when unset.
	store, storeErr := dynamo.NewInventoryStoreFor(dynamodb.NewFromConfig(cfg), env["INVENTORY_TABLE"], awsconfig.Getenv("INVENTORY_STRATEGY", ""))
	if err := errors.Join(envErr, cfgErr, storeErr); err != nil {
		slog.Error("cold start: bad configuration", "error", err.Error())
		os.Exit(1)
	}
	h := &inventory.Handler{
		Store:  store,
		Tokens: tasktoken.NewClient(sfn.NewFromConfig(cfg)),
	}
	if _, ok := store.(*dynamo.ConditionalInventoryStore); ok {
		// No transaction to conflict: every message of a batch (the mapping's BatchSize)
		// in flight, so that the takes of a hot SKU share its writes (group commit).
		h.Concurrency = conditionalConcurrency
	}
	lambda.Start(h.Handle)
}
