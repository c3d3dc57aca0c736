package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/orderflow/orderflow/pkg/dynamo"
	"github.com/orderflow/orderflow/pkg/inventory"
)

// stockStore reads and writes catalog items; *dynamo.InventoryStore satisfies it.
type stockStore interface {
	Put(ctx context.Context, it inventory.Item) error
	Get(ctx context.Context, sku string) (inventory.Item, error)
}

func (e *env) inventoryStore(sf *stackFlags) (*dynamo.InventoryStore, error) {
	cfg, err := e.awsConfig(sf)
	if err != nil {
		return nil, err
	}
	return dynamo.NewInventoryStore(dynamodb.NewFromConfig(cfg), sf.inventoryTable()), nil
}

// stockSetOptions are the arguments of `stock set`.
type stockSetOptions struct {
	Item inventory.Item
	// PriceSet is whether --price was given; without it the current price is kept.
	PriceSet bool
}

func (e *env) parseStockSet(args []string) (*stackFlags, *stockSetOptions, error) {
	sf := &stackFlags{}
	o := &stockSetOptions{}
	fs := e.newFlagSet("stock set", sf)
	price := fs.Int64("price", -1, "unit price in minor units (default: keep the current price, 0 for a new SKU)")
	fs.StringVar(&o.Item.Currency, "currency", "USD", "ISO 4217 currency of the price")
	pos, err := parse(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if err := wantArgs(fs, pos, "SKU", "QTY"); err != nil {
		return nil, nil, err
	}
	o.Item.SKU = pos[0]
	if o.Item.Stock, err = strconv.ParseInt(pos[1], 10, 64); err != nil || o.Item.Stock < 0 {
		return nil, nil, usageError("stock set: QTY %q must be a whole number >= 0", pos[1])
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "price" {
			o.PriceSet = true
		}
	})
	if o.PriceSet {
		if *price < 0 {
			return nil, nil, usageError("stock set: --price must be >= 0 (minor units)")
		}
		o.Item.Price = *price
	}
	return sf, o, nil
}

func (e *env) stockSet(ctx context.Context, args []string) error {
	sf, o, err := e.parseStockSet(args)
	if err != nil {
		return err
	}
	s, err := e.inventoryStore(sf)
	if err != nil {
		return err
	}
	return setStock(ctx, s, *o, e)
}

// setStock writes the item; without an explicit price it keeps the SKU's current price
// and currency, so `stock set SKU 10` only restocks.
func setStock(ctx context.Context, s stockStore, o stockSetOptions, e *env) error {
	it := o.Item
	if !o.PriceSet {
		cur, err := s.Get(ctx, it.SKU)
		switch {
		case errors.Is(err, inventory.ErrUnknownSKU):
			fmt.Fprintf(e.stderr, "note: new SKU %s has price 0; set one with --price\n", it.SKU)
		case err != nil:
			return fmt.Errorf("stock set %s: %w", it.SKU, err)
		default:
			it.Price, it.Currency = cur.Price, cur.Currency
		}
	}
	if err := s.Put(ctx, it); err != nil {
		return fmt.Errorf("stock set %s: %w", it.SKU, err)
	}
	printItem(e, it)
	return nil
}

func (e *env) stockGet(ctx context.Context, args []string) error {
	sf := &stackFlags{}
	fs := e.newFlagSet("stock get", sf)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(fs, pos, "SKU"); err != nil {
		return err
	}
	s, err := e.inventoryStore(sf)
	if err != nil {
		return err
	}
	it, err := s.Get(ctx, pos[0])
	if err != nil {
		return fmt.Errorf("stock get %s: %w", pos[0], err)
	}
	printItem(e, it)
	return nil
}

func printItem(e *env, it inventory.Item) {
	fmt.Fprintf(e.stdout, "%s\tstock %d\tprice %s\n", it.SKU, it.Stock, FormatMoney(it.Price, it.Currency))
}
