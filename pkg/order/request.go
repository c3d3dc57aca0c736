package order

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on an order request. They keep items far below DynamoDB's 400 KB and
// EventBridge's 256 KB limits and bound the work one request can cause.
const (
	MaxLines        = 50
	MaxQuantity     = 1000
	MaxIDLength     = 64
	MaxTokenLength  = 128
	MaxRequestBytes = 64 << 10
)

// LineRequest is one line as the client sends it: a SKU and a quantity, never a price.
type LineRequest struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// Request is the body of POST /orders.
type Request struct {
	CustomerID   string `json:"customerId"`
	Currency     string `json:"currency"`
	Lines        []Line `json:"lines"`
	PaymentToken string `json:"paymentToken"`
}

// wireRequest is the strict wire form: unit prices are not accepted from clients.
type wireRequest struct {
	CustomerID   string        `json:"customerId"`
	Currency     string        `json:"currency"`
	Lines        []LineRequest `json:"lines"`
	PaymentToken string        `json:"paymentToken"`
}

// DecodeRequest parses and validates a POST /orders body. It returns a *ValidationError
// naming the offending field for malformed JSON, wrong types, unknown fields and invalid
// values.
func DecodeRequest(body []byte) (Request, error) {
	return decodeRequest(body, "")
}

// DecodeRequestAs is DecodeRequest for a request made by an authenticated customer (the
// customer of a JWT): the body's customerId may be left out, and the request is that
// customer's. It returns ErrCustomerMismatch when the body names another customer, and
// a *ValidationError as DecodeRequest does (customerId is checked as if the body had
// named customerID).
func DecodeRequestAs(body []byte, customerID string) (Request, error) {
	return decodeRequest(body, customerID)
}

func decodeRequest(body []byte, customerID string) (Request, error) {
	var w wireRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return Request{}, decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Request{}, &ValidationError{Fields: []FieldIssue{{Field: "body", Issue: "must hold exactly one JSON object"}}}
	}
	if customerID != "" {
		if w.CustomerID != "" && w.CustomerID != customerID {
			return Request{}, ErrCustomerMismatch
		}
		w.CustomerID = customerID
	}
	req := Request{CustomerID: w.CustomerID, Currency: w.Currency, PaymentToken: w.PaymentToken}
	if w.Lines != nil {
		req.Lines = make([]Line, len(w.Lines))
		for i, l := range w.Lines {
			req.Lines[i] = Line{SKU: l.SKU, Quantity: l.Quantity}
		}
	}
	return req.Normalize()
}

func decodeError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return &ValidationError{Fields: []FieldIssue{{Field: field, Issue: "must be " + jsonKind(typeErr.Type.Kind().String())}}}
	case errors.As(err, &syntaxErr):
		return &ValidationError{Fields: []FieldIssue{{Field: "body", Issue: fmt.Sprintf("malformed JSON at byte %d", syntaxErr.Offset)}}}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return &ValidationError{Fields: []FieldIssue{{Field: "body", Issue: "malformed or empty JSON"}}}
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if name == "" { // {"": ...}: a detail must still name a field
			return &ValidationError{Fields: []FieldIssue{{Field: "body", Issue: "has a member with an empty name"}}}
		}
		return &ValidationError{Fields: []FieldIssue{{Field: name, Issue: "unknown field"}}}
	}
	return &ValidationError{Fields: []FieldIssue{{Field: "body", Issue: "malformed JSON"}}}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int64", "int", "float64":
		return "an integer"
	case "slice":
		return "an array"
	case "struct":
		return "an object"
	}
	return "of another type"
}

// Normalize validates r and returns it with SKUs and currency in canonical form. It
// returns a *ValidationError listing every problem. Duplicate SKUs are rejected rather
// than merged, so that what the client sent is exactly what is stored.
func (r Request) Normalize() (Request, error) {
	v := &ValidationError{}
	checkID(v, "customerId", r.CustomerID)
	r.Currency = strings.TrimSpace(r.Currency)
	switch {
	case r.Currency == "":
		v.add("currency", "is required")
	case !IsCurrency(r.Currency):
		v.add("currency", "must be an ISO 4217 code such as USD")
	}
	switch {
	case len(r.Lines) == 0:
		v.add("lines", "must have at least one line")
	case len(r.Lines) > MaxLines:
		v.add("lines", fmt.Sprintf("must have at most %d lines", MaxLines))
	default:
		seen := make(map[string]int, len(r.Lines))
		for i, l := range r.Lines {
			field := fmt.Sprintf("lines[%d]", i)
			checkID(v, field+".sku", l.SKU)
			if j, dup := seen[l.SKU]; dup && l.SKU != "" {
				v.add(field+".sku", fmt.Sprintf("duplicates lines[%d].sku; send one line per sku", j))
			}
			seen[l.SKU] = i
			if l.Quantity < 1 || l.Quantity > MaxQuantity {
				v.add(field+".quantity", fmt.Sprintf("must be between 1 and %d", MaxQuantity))
			}
		}
	}
	switch {
	case r.PaymentToken == "":
		v.add("paymentToken", "is required")
	case len(r.PaymentToken) > MaxTokenLength || !printable(r.PaymentToken):
		v.add("paymentToken", fmt.Sprintf("must be at most %d printable characters", MaxTokenLength))
	}
	if len(v.Fields) > 0 {
		return Request{}, v
	}
	return r, nil
}

// ValidCustomerID reports whether s is a valid customerId: 1 to MaxIDLength letters,
// digits and - _ . : @ (what Normalize accepts).
func ValidCustomerID(s string) bool {
	v := &ValidationError{}
	checkID(v, "customerId", s)
	return len(v.Fields) == 0
}

func checkID(v *ValidationError, field, s string) {
	switch {
	case s == "":
		v.add(field, "is required")
	case utf8.RuneCountInString(s) > MaxIDLength:
		v.add(field, fmt.Sprintf("must be at most %d characters", MaxIDLength))
	case !identifier(s):
		v.add(field, "may contain only letters, digits and - _ . : @")
	}
}

func identifier(s string) bool {
	for _, c := range s {
		if !(c < utf8.RuneSelf && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_.:@", c))) {
			return false
		}
	}
	return true
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if !unicode.IsPrint(c) {
			return false
		}
	}
	return true
}
