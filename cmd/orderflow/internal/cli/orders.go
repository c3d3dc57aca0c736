package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/orderflow/orderflow/pkg/order"
)

// skuFlag collects repeated --sku SKU:QTY values.
type skuFlag []order.LineRequest

func (s *skuFlag) String() string {
	parts := make([]string, len(*s))
	for i, l := range *s {
		parts[i] = fmt.Sprintf("%s:%d", l.SKU, l.Quantity)
	}
	return strings.Join(parts, ",")
}

// Set parses SKU:QTY (QTY defaults to 1 when ":QTY" is left out).
func (s *skuFlag) Set(v string) error {
	sku, qty, hasQty := strings.Cut(v, ":")
	if sku == "" {
		return fmt.Errorf("want SKU:QTY, got %q", v)
	}
	n := int64(1)
	if hasQty {
		var err error
		if n, err = strconv.ParseInt(qty, 10, 64); err != nil || n < 1 {
			return fmt.Errorf("quantity of %q must be a whole number >= 1", v)
		}
	}
	*s = append(*s, order.LineRequest{SKU: sku, Quantity: n})
	return nil
}

// createOptions are the flags of `orders create`.
type createOptions struct {
	Customer       string
	Currency       string
	SKUs           skuFlag
	Token          string
	IdempotencyKey string
	File           string
	Wait           bool
	WaitTimeout    time.Duration
}

// orderRequest is the body of POST /orders as the API takes it.
type orderRequest struct {
	CustomerID   string              `json:"customerId"`
	Currency     string              `json:"currency"`
	Lines        []order.LineRequest `json:"lines"`
	PaymentToken string              `json:"paymentToken"`
}

// body returns the request body: the file's content, or the JSON built from the flags.
func (o *createOptions) body(readFile func(string) ([]byte, error)) ([]byte, error) {
	if o.File != "" {
		if o.Customer != "" || len(o.SKUs) > 0 {
			return nil, usageError("orders create: --file excludes --customer and --sku")
		}
		b, err := readFile(o.File)
		if err != nil {
			return nil, fmt.Errorf("read order file: %w", err)
		}
		return b, nil
	}
	if o.Customer == "" || len(o.SKUs) == 0 {
		return nil, usageError("orders create: --customer and at least one --sku SKU:QTY are required (or --file)")
	}
	return json.Marshal(orderRequest{CustomerID: o.Customer, Currency: o.Currency, Lines: o.SKUs, PaymentToken: o.Token})
}

func (e *env) parseCreate(args []string) (*stackFlags, *createOptions, error) {
	sf := &stackFlags{}
	o := &createOptions{}
	fs := e.newFlagSet("orders create", sf)
	fs.StringVar(&o.Customer, "customer", "", "customer id")
	fs.StringVar(&o.Currency, "currency", "USD", "ISO 4217 currency")
	fs.Var(&o.SKUs, "sku", "order line SKU:QTY (repeatable)")
	fs.StringVar(&o.Token, "token", "tok_visa", `payment token ("tok_decline" is declined)`)
	fs.StringVar(&o.IdempotencyKey, "idempotency-key", "", "Idempotency-Key header")
	fs.StringVar(&o.File, "file", "", "JSON file with the whole request body")
	fs.BoolVar(&o.Wait, "wait", false, "wait until the order reaches a terminal status")
	fs.DurationVar(&o.WaitTimeout, "wait-timeout", 60*time.Second, "how long --wait waits")
	pos, err := parse(fs, args)
	if err != nil {
		return nil, nil, err
	}
	if err := wantArgs(fs, pos); err != nil {
		return nil, nil, err
	}
	return sf, o, nil
}

func (e *env) ordersCreate(ctx context.Context, args []string) error {
	sf, o, err := e.parseCreate(args)
	if err != nil {
		return err
	}
	body, err := o.body(os.ReadFile)
	if err != nil {
		return err
	}
	c, err := e.apiClient(sf)
	if err != nil {
		return err
	}
	resp, err := c.createOrder(ctx, body, o.IdempotencyKey)
	if err != nil {
		return err
	}
	if err := resp.err(); err != nil {
		return fmt.Errorf("create order: %w", err)
	}
	if !o.Wait {
		return printJSON(e, resp.Body)
	}
	var created order.Order
	if err := json.Unmarshal(resp.Body, &created); err != nil || created.ID == "" {
		return fmt.Errorf("create order: answer is not an order: %s", truncate(string(resp.Body), 200))
	}
	fmt.Fprintf(e.stderr, "order %s accepted; waiting for a terminal status\n", created.ID)
	wctx, cancel := context.WithTimeout(ctx, o.WaitTimeout)
	defer cancel()
	final, err := waitTerminal(wctx, c, created.ID, 200*time.Millisecond)
	if final != nil {
		if perr := printJSON(e, final); perr != nil {
			return perr
		}
	}
	return err
}

func (e *env) ordersGet(ctx context.Context, args []string) error {
	sf := &stackFlags{}
	fs := e.newFlagSet("orders get", sf)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := wantArgs(fs, pos, "ID"); err != nil {
		return err
	}
	c, err := e.apiClient(sf)
	if err != nil {
		return err
	}
	resp, err := c.getOrder(ctx, pos[0])
	if err != nil {
		return err
	}
	if err := resp.err(); err != nil {
		return fmt.Errorf("get order %s: %w", pos[0], err)
	}
	return printJSON(e, resp.Body)
}

// printJSON writes v (raw JSON bytes or a value) indented to stdout.
func printJSON(e *env, v any) error {
	var out bytes.Buffer
	switch b := v.(type) {
	case []byte:
		if err := json.Indent(&out, b, "", "  "); err != nil {
			out.Reset()
			out.Write(b)
		}
	default:
		enc, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		out.Write(enc)
	}
	out.WriteByte('\n')
	_, err := e.stdout.Write(out.Bytes())
	return err
}

// errNotTerminal is returned by waitTerminal when the context ends first.
var errNotTerminal = errors.New("order did not reach a terminal status in time")

// orderGetter reads an order from the API.
type orderGetter interface {
	getOrder(ctx context.Context, id string) (apiResponse, error)
}

// waitTerminal polls GET /orders/{id} every interval until the order is in a terminal
// status, and returns it. When ctx ends first it returns the last order seen (nil if none)
// and an error wrapping errNotTerminal. A 404 right after the POST is polled through
// (a read may lag the write on a replica); other API errors end the wait.
func waitTerminal(ctx context.Context, c orderGetter, id string, interval time.Duration) (*order.Order, error) {
	var last *order.Order
	for {
		resp, err := c.getOrder(ctx, id)
		switch {
		case err != nil && ctx.Err() != nil:
			return last, fmt.Errorf("order %s: %w (last status %s)", id, errNotTerminal, statusOf(last))
		case err != nil:
			// A transport error (connection reset under load): poll again.
		case resp.Status == 404 || resp.Status == 503 || resp.Status == 429:
			// Not visible yet, or the API asks to come back later.
		case resp.err() != nil:
			return last, fmt.Errorf("get order %s: %w", id, resp.err())
		default:
			var o order.Order
			if err := json.Unmarshal(resp.Body, &o); err != nil {
				return last, fmt.Errorf("get order %s: answer is not an order: %w", id, err)
			}
			last = &o
			if o.Status.Terminal() {
				return last, nil
			}
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("order %s: %w (last status %s)", id, errNotTerminal, statusOf(last))
		case <-time.After(interval):
		}
	}
}

func statusOf(o *order.Order) string {
	if o == nil {
		return "unknown"
	}
	return string(o.Status)
}
