package capacity

import (
	"fmt"
	"strconv"

	"github.com/orderflow/orderflow/tools/template"
)

// Settings are the template's capacity settings, for given parameter values.
type Settings struct {
	// RouteRate and RouteBurst are the HTTP API's default route throttles.
	RouteRate, RouteBurst float64
	// OnDemand is the order stream's mode; Shards its shard count when provisioned.
	OnDemand bool
	Shards   float64
	// InventoryConcurrency and InventoryBatch are the inventory queue mapping's
	// MaximumConcurrency and BatchSize.
	InventoryConcurrency, InventoryBatch float64
	// AnalyticsParallelization is the order stream mapping's ParallelizationFactor.
	AnalyticsParallelization float64
	// WarmWrite and WarmRead are each table's warm throughput (0: a new table's default).
	WarmWrite, WarmRead map[string]float64
	// Memory is each function's MemorySize in MB.
	Memory map[string]int
	// InventoryStrategy is the inventory function's INVENTORY_STRATEGY (template parameter
	// InventoryStrategy; "transaction" when unset).
	InventoryStrategy string
}

// Tables are the template's tables by the names the mix uses.
var Tables = map[string]string{"orders": "OrdersTable", "inventory": "InventoryTable", "idempotency": "IdempotencyTable", "metrics": "MetricsTable"}

// Functions are the Lambda functions, by directory name.
var Functions = []string{"ingest", "process", "inventory", "notify", "analytics", "publisher"}

// ReadSettings reads the capacity settings of t for params (parameters not given take
// their defaults). It returns an error naming the resource and property that is missing
// or not a number.
func ReadSettings(t *template.Template, params map[string]string) (Settings, error) {
	s := Settings{WarmWrite: map[string]float64{}, WarmRead: map[string]float64{}, Memory: map[string]int{}}
	num := func(id string, path ...string) (float64, bool, error) {
		if _, ok := t.Resources[id]; !ok {
			return 0, false, fmt.Errorf("template: no resource %s", id)
		}
		v, ok, err := t.Property(id, path, params)
		if err != nil || !ok {
			return 0, false, err
		}
		switch x := v.(type) {
		case int:
			return float64(x), true, nil
		case float64:
			return x, true, nil
		case string:
			f, err := strconv.ParseFloat(x, 64)
			if err != nil {
				return 0, false, fmt.Errorf("%s.%v: %q is not a number", id, path, x)
			}
			return f, true, nil
		}
		return 0, false, fmt.Errorf("%s.%v: %v is not a number", id, path, v)
	}
	must := func(dst *float64, id string, path ...string) error {
		v, ok, err := num(id, path...)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("template: %s has no %v", id, path)
		}
		*dst = v
		return nil
	}
	if err := must(&s.RouteRate, "OrdersApi", "DefaultRouteSettings", "ThrottlingRateLimit"); err != nil {
		return s, err
	}
	if err := must(&s.RouteBurst, "OrdersApi", "DefaultRouteSettings", "ThrottlingBurstLimit"); err != nil {
		return s, err
	}
	mode, _, err := t.Property("OrderStream", []string{"StreamModeDetails", "StreamMode"}, params)
	if err != nil {
		return s, err
	}
	s.OnDemand = mode == "ON_DEMAND"
	if !s.OnDemand {
		if err := must(&s.Shards, "OrderStream", "ShardCount"); err != nil {
			return s, err
		}
	}
	if err := must(&s.InventoryConcurrency, "InventoryCommandsMapping", "ScalingConfig", "MaximumConcurrency"); err != nil {
		return s, err
	}
	if err := must(&s.InventoryBatch, "InventoryCommandsMapping", "BatchSize"); err != nil {
		return s, err
	}
	s.AnalyticsParallelization = 1
	if v, ok, err := num("OrderStreamMapping", "ParallelizationFactor"); err != nil {
		return s, err
	} else if ok {
		s.AnalyticsParallelization = v
	}
	for name, id := range Tables {
		for _, w := range []struct {
			dst  map[string]float64
			prop string
		}{{s.WarmWrite, "WriteUnitsPerSecond"}, {s.WarmRead, "ReadUnitsPerSecond"}} {
			v, ok, err := num(id, "WarmThroughput", w.prop)
			if err != nil {
				return s, err
			}
			if ok {
				w.dst[name] = v
			}
		}
	}
	s.InventoryStrategy = "transaction"
	if v, ok, err := t.Property("InventoryFunction", []string{"Environment", "Variables", "INVENTORY_STRATEGY"}, params); err != nil {
		return s, err
	} else if ok {
		s.InventoryStrategy = fmt.Sprint(v)
	}
	def := 128.0
	if g, ok := t.Globals["Function"].(map[string]any); ok {
		if n, ok := template.Int(g["MemorySize"]); ok {
			def = float64(n)
		}
	}
	for _, f := range Functions {
		id := string(f[0]-'a'+'A') + f[1:] + "Function"
		if _, ok := t.Resources[id]; !ok {
			return s, fmt.Errorf("template: no %s", id)
		}
		m := def
		if v, ok, err := num(id, "MemorySize"); err != nil {
			return s, err
		} else if ok {
			m = v
		}
		s.Memory[f] = int(m)
	}
	return s, nil
}
