package logging

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"reflect"
	"strings"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Redacted replaces the value of every sensitive attribute.
const Redacted = "[REDACTED]"

// sensitiveSuffixes: a key is sensitive when, ignoring case, '_' and '-', it ends with one
// of these (token, paymentToken, taskToken, payment_token, password, clientSecret, ...)
// or is "authorization". Each such key contains one of sensitiveWords verbatim, which
// lets mayHoldSensitive skip the decode for most values.
var (
	sensitiveSuffixes = []string{"token", "password", "secret"}
	sensitiveWords    = []string{"token", "password", "secret", "authorization"}
)

// IsSensitive reports whether an attribute or JSON member named key is written as
// Redacted: paymentToken, token, taskToken, authorization, password, secret and their
// snake_case, kebab-case and suffixed variants (accessToken, client_secret, ...).
func IsSensitive(key string) bool {
	for _, s := range sensitiveSuffixes {
		if _, ok := trimSuffixFold(key, s); ok {
			return true
		}
	}
	rest, ok := trimSuffixFold(key, "authorization")
	return ok && strings.Trim(rest, "_-") == ""
}

// trimSuffixFold reports whether key ends with the lower-case word, ignoring ASCII case
// and the separators '_' and '-', and returns what precedes it.
func trimSuffixFold(key, word string) (string, bool) {
	i := len(key) - 1
	for j := len(word) - 1; j >= 0; j-- {
		for i >= 0 && (key[i] == '_' || key[i] == '-') {
			i--
		}
		if i < 0 {
			return "", false
		}
		c := key[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != word[j] {
			return "", false
		}
		i--
	}
	return key[:i+1], true
}

// replaceAttr is the JSON handler's hook: Lambda's key names, then redaction. slog calls
// it for every leaf attribute, including those inside groups (with the group names in
// groups), but not for the groups themselves, hence the check of groups.
func replaceAttr(groups []string, a slog.Attr) slog.Attr {
	if IsSensitive(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	for _, g := range groups {
		if IsSensitive(g) {
			return slog.String(a.Key, Redacted)
		}
	}
	a = lambdacontext.ReplaceAttr(groups, a)
	switch a.Value.Kind() {
	case slog.KindAny:
		if v, ok := redactValue(a.Value.Any()); ok {
			a.Value = slog.AnyValue(v)
		}
	case slog.KindString:
		// An HTTP body logged as a string: {"paymentToken": ...} must not pass either.
		if s, ok := redactJSONString(a.Value.String()); ok {
			a.Value = slog.StringValue(s)
		}
	}
	return a
}

// redactValue returns a composite value (struct, map, slice, pointer) with its sensitive
// JSON members replaced, as the JSON handler would have written it. ok is false when v is
// left as it is: scalars, errors (the handler writes their message), []byte and values
// that do not marshal (the handler reports those itself).
func redactValue(v any) (any, bool) {
	if v == nil {
		return nil, false
	}
	if _, isErr := v.(error); isErr {
		return nil, false
	}
	switch reflect.TypeOf(v).Kind() {
	case reflect.Struct, reflect.Map, reflect.Slice, reflect.Array, reflect.Pointer:
	default:
		if _, ok := v.(json.Marshaler); !ok {
			return nil, false
		}
	}
	var raw []byte
	if b, isBytes := v.([]byte); isBytes {
		// The handler would write bytes as base64, which hides nothing. JSON bytes (a
		// request body) are written as JSON, redacted; other bytes are left alone.
		if !json.Valid(b) || !looksLikeJSONDocument(string(b)) {
			return nil, false
		}
		raw = b
	} else {
		var err error
		if raw, err = json.Marshal(v); err != nil {
			return nil, false
		}
	}
	if !mayHoldSensitive(raw) {
		return json.RawMessage(raw), true
	}
	var tree any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep integers such as minor-unit amounts exact
	if err := dec.Decode(&tree); err != nil {
		return nil, false
	}
	return redactTree(tree), true
}

// redactJSONString returns s with sensitive members replaced when s is a JSON object or
// array that may hold one; ok is false when s is returned unchanged.
func redactJSONString(s string) (string, bool) {
	if !looksLikeJSONDocument(s) || !mayHoldSensitive([]byte(s)) {
		return s, false
	}
	var tree any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&tree); err != nil {
		return s, false
	}
	out, err := json.Marshal(redactTree(tree))
	if err != nil {
		return s, false
	}
	return string(out), true
}

// looksLikeJSONDocument reports whether s starts, after white space, like an object or array.
func looksLikeJSONDocument(s string) bool {
	s = strings.TrimLeft(s, " \t\r\n")
	return s != "" && (s[0] == '{' || s[0] == '[')
}

func redactTree(v any) any {
	switch x := v.(type) {
	case string:
		if r, ok := redactJSONString(x); ok {
			return r
		}
	case map[string]any:
		for k, e := range x {
			if IsSensitive(k) {
				x[k] = Redacted
				continue
			}
			x[k] = redactTree(e)
		}
	case []any:
		for i, e := range x {
			x[i] = redactTree(e)
		}
	}
	return v
}

// mayHoldSensitive reports whether raw contains, in any case, one of the words every
// sensitive key contains.
func mayHoldSensitive(raw []byte) bool {
	for _, s := range sensitiveWords {
		if containsFold(raw, s) {
			return true
		}
	}
	return false
}

// containsFold reports whether b contains the lower-case ASCII word, ignoring case and
// the separators '_' and '-' inside the match, as IsSensitive does.
func containsFold(b []byte, word string) bool {
	for i := 0; i+len(word) <= len(b); i++ {
		j, k := 0, i
		for j < len(word) && k < len(b) {
			c := b[k]
			if j > 0 && (c == '_' || c == '-') {
				k++
				continue
			}
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != word[j] {
				break
			}
			j++
			k++
		}
		if j == len(word) {
			return true
		}
	}
	return false
}

// RedactJSON returns s with the value of every sensitive member (IsSensitive) replaced by
// Redacted, at any depth and inside JSON documents nested in strings, when s is a JSON
// object or array; any other s is returned unchanged.
func RedactJSON(s string) string {
	out, _ := redactJSONString(s)
	return out
}
