package dynamo_test

import (
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/orderflow/orderflow/pkg/awstest"
	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/storetest"
)

func TestMain(m *testing.M) { os.Exit(awstest.Main(m)) }

// table creates a table keyed as in docs/CONTRACTS.md on the emulator and
// returns a client and the table's name.
func table(t *testing.T, base string, spec awstest.TableSpec) (*dynamodb.Client, string) {
	t.Helper()
	env := awstest.Env(t)
	spec.Name = env.Name(t, base)
	env.CreateTable(t, spec)
	return dynamodb.NewFromConfig(env.Config), spec.Name
}

func TestOrderStore(t *testing.T) {
	storetest.OrderStoreContract(t, func(t *testing.T) storetest.OrderStore {
		c, name := table(t, "orders", awstest.TableSpec{
			HashKey: "order_id",
			GSIs:    []awstest.GSISpec{{Name: dynamo.CustomerIndex, HashKey: "customer_id", RangeKey: "created_at"}},
		})
		return dynamo.NewOrderStore(c, name)
	})
}

func TestInventoryStore(t *testing.T) {
	storetest.InventoryStoreContract(t, func(t *testing.T) storetest.InventoryStore {
		c, name := table(t, "inventory", awstest.TableSpec{HashKey: "pk"})
		return dynamo.NewInventoryStore(c, name)
	})
}

func TestIdempotencyStore(t *testing.T) {
	storetest.IdempotencyStoreContract(t, func(t *testing.T) storetest.IdempotencyStore {
		c, name := table(t, "idempotency", awstest.TableSpec{HashKey: "pk"})
		return dynamo.NewIdempotencyStore(c, name)
	})
}

func TestMarkerStore(t *testing.T) {
	storetest.MarkerStoreContract(t, func(t *testing.T) storetest.MarkerStore {
		c, name := table(t, "idempotency", awstest.TableSpec{HashKey: "pk"})
		return dynamo.NewMarkerStore(c, name, "notify#")
	})
}

func TestMetricsStore(t *testing.T) {
	storetest.MetricsStoreContract(t, func(t *testing.T) storetest.MetricsStore {
		c, name := table(t, "metrics", awstest.TableSpec{HashKey: "pk"})
		return dynamo.NewMetricsStore(c, name)
	})
}
