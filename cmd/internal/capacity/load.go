package capacity

import (
	"os"
	"path/filepath"

	"github.com/orderflow/orderflow/tools/template"
)

// Paths of the plan's inputs under the module root.
const (
	TemplatePath = "template.yaml"
	ASLPath      = "statemachine/order-processing.asl.json"
	QuotasPath   = "bench/quotas.json"
	PricesPath   = "bench/prices-us-east-1.json"
)

// LoadInput reads the plan's inputs under root: the template's settings for params, the
// state machine's happy path, the quota table and the price table; Rate, Region and
// HotShare are left for the caller.
func LoadInput(root string, params map[string]string) (Input, error) {
	var in Input
	t, err := template.Load(filepath.Join(root, TemplatePath))
	if err != nil {
		return in, err
	}
	if in.Settings, err = ReadSettings(t, params); err != nil {
		return in, err
	}
	asl, err := os.ReadFile(filepath.Join(root, ASLPath))
	if err != nil {
		return in, err
	}
	path, err := HappyPath(asl)
	if err != nil {
		return in, err
	}
	in.Mix = Design(len(path))
	if in.Quotas, err = LoadQuotas(filepath.Join(root, QuotasPath)); err != nil {
		return in, err
	}
	if in.Prices, err = LoadPrices(filepath.Join(root, PricesPath)); err != nil {
		return in, err
	}
	return in, nil
}
