package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/orderflow/orderflow/pkg/order"
)

// apiClient calls the orders HTTP API.
type apiClient struct {
	base string
	// auth is the Authorization header value, empty for none.
	auth string
	http *http.Client
}

func (e *env) apiClient(sf *stackFlags) (*apiClient, error) {
	return newAPIClient(sf.API, e.getenv("ORDERFLOW_AUTHORIZATION"))
}

// newAPIClient returns a client of the API at base, sending auth as the Authorization
// header when it is not empty. base must be an absolute http(s) URL (a usage error).
func newAPIClient(base, auth string) (*apiClient, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usageError("--api %q must be an absolute http(s) URL", base)
	}
	return &apiClient{
		base: strings.TrimRight(base, "/"),
		auth: auth,
		http: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second},
		},
	}, nil
}

// apiResponse is one answer of the API.
type apiResponse struct {
	Status int
	Body   []byte
}

// apiError is the JSON error body of the API.
type apiError struct {
	Error struct {
		Code    string             `json:"code"`
		Message string             `json:"message"`
		Details []order.FieldIssue `json:"details"`
	} `json:"error"`
}

// err returns nil for a 2xx answer and otherwise an error describing the API's JSON error
// (or the raw body when it is not one).
func (r apiResponse) err() error {
	if r.Status >= 200 && r.Status < 300 {
		return nil
	}
	var ae apiError
	if json.Unmarshal(r.Body, &ae) != nil || ae.Error.Code == "" {
		return fmt.Errorf("HTTP %d: %s", r.Status, truncate(strings.TrimSpace(string(r.Body)), 200))
	}
	msg := fmt.Sprintf("HTTP %d %s: %s", r.Status, ae.Error.Code, ae.Error.Message)
	for _, d := range ae.Error.Details {
		msg += fmt.Sprintf("; %s %s", d.Field, d.Issue)
	}
	return fmt.Errorf("%s", msg)
}

// createOrder POSTs body to /orders with an optional idempotency key.
func (c *apiClient) createOrder(ctx context.Context, body []byte, key string) (apiResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/orders", bytes.NewReader(body))
	if err != nil {
		return apiResponse{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return c.do(req)
}

// getOrder GETs /orders/{id}.
func (c *apiClient) getOrder(ctx context.Context, id string) (apiResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/orders/"+url.PathEscape(id), nil)
	if err != nil {
		return apiResponse{}, err
	}
	return c.do(req)
}

func (c *apiClient) do(req *http.Request) (apiResponse, error) {
	req.Header.Set("Accept", "application/json")
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return apiResponse{}, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return apiResponse{}, fmt.Errorf("%s %s: read body: %w", req.Method, req.URL.Path, err)
	}
	return apiResponse{Status: resp.StatusCode, Body: body}, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// FormatMoney renders an amount in minor units of currency: 1234 USD is "12.34 USD",
// 1234 JPY is "1234 JPY" (order.Amount).
func FormatMoney(minor int64, currency string) string {
	if currency == "" {
		return order.Amount(minor, currency)
	}
	return order.Amount(minor, currency) + " " + currency
}
