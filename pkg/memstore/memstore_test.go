package memstore_test

import (
	"testing"

	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/memstore"
	"github.com/orderflow/orderflow/pkg/storetest"
)

// The fakes must be usable wherever the DynamoDB stores are.
var (
	_ storetest.OrderStore     = (*dynamo.OrderStore)(nil)
	_ storetest.OrderStore     = (*memstore.OrderStore)(nil)
	_ storetest.InventoryStore = (*dynamo.InventoryStore)(nil)
	_ storetest.InventoryStore = (*memstore.InventoryStore)(nil)
	_ storetest.IntakeStore    = (*dynamo.IntakeStore)(nil)
	_ storetest.IntakeStore    = (*memstore.IntakeStore)(nil)
	_ storetest.MarkerStore    = (*dynamo.MarkerStore)(nil)
	_ storetest.MarkerStore    = (*memstore.MarkerStore)(nil)
	_ storetest.MetricsStore   = (*dynamo.MetricsStore)(nil)
	_ storetest.MetricsStore   = (*memstore.MetricsStore)(nil)
)

func TestOrderStore(t *testing.T) {
	storetest.OrderStoreContract(t, func(*testing.T) storetest.OrderStore { return memstore.NewOrderStore() })
}

func TestInventoryStore(t *testing.T) {
	storetest.InventoryStoreContract(t, func(*testing.T) storetest.InventoryStore { return memstore.NewInventoryStore() })
}

func TestIntakeStore(t *testing.T) {
	storetest.IntakeStoreContract(t, func(*testing.T) (storetest.IntakeStore, storetest.OrderStore) {
		orders := memstore.NewOrderStore()
		return memstore.NewIntakeStore(orders), orders
	})
}

func TestMarkerStore(t *testing.T) {
	storetest.MarkerStoreContract(t, func(*testing.T) storetest.MarkerStore { return memstore.NewMarkerStore() })
}

func TestMetricsStore(t *testing.T) {
	storetest.MetricsStoreContract(t, func(*testing.T) storetest.MetricsStore { return memstore.NewMetricsStore() })
}
