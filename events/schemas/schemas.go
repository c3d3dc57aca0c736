// Package schemas embeds the JSON Schemas of the business events orderflow publishes and
// validates event details against them. Consumers can take the .json files as they are.
package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed *.json
var files embed.FS

// File returns the schema file name for a detail-type: "Order Created" → "order-created.json".
func File(detailType string) string {
	return strings.ToLower(strings.ReplaceAll(detailType, " ", "-")) + ".json"
}

var (
	once     sync.Once
	compiled map[string]*jsonschema.Schema
	errLoad  error
)

func load() {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	entries, err := files.ReadDir(".")
	if err != nil {
		errLoad = err
		return
	}
	compiled = make(map[string]*jsonschema.Schema, len(entries))
	for _, e := range entries {
		raw, err := files.ReadFile(e.Name())
		if err != nil {
			errLoad = err
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			errLoad = fmt.Errorf("schema %s: %w", e.Name(), err)
			return
		}
		if err := c.AddResource(e.Name(), doc); err != nil {
			errLoad = fmt.Errorf("schema %s: %w", e.Name(), err)
			return
		}
		s, err := c.Compile(e.Name())
		if err != nil {
			errLoad = fmt.Errorf("compile schema %s: %w", e.Name(), err)
			return
		}
		compiled[e.Name()] = s
	}
}

// Names returns the schema file names.
func Names() []string {
	once.Do(load)
	out := make([]string, 0, len(compiled))
	for n := range compiled {
		out = append(out, n)
	}
	return out
}

// Validate checks an event detail (the JSON of the `detail` member) against the schema of
// its detail-type. It returns an error for an unknown detail-type, malformed JSON or a
// detail that does not conform, naming what is wrong.
func Validate(detailType string, detail []byte) error {
	once.Do(load)
	if errLoad != nil {
		return errLoad
	}
	s, ok := compiled[File(detailType)]
	if !ok {
		return fmt.Errorf("no schema for detail-type %q", detailType)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(detail))
	if err != nil {
		return fmt.Errorf("%s: detail is not JSON: %w", detailType, err)
	}
	if err := s.Validate(doc); err != nil {
		return fmt.Errorf("%s: %w", detailType, err)
	}
	return nil
}

// ValidateEvent checks a whole EventBridge event as delivered to a target (with
// "detail-type" and "detail" members) against the schema of its detail-type.
func ValidateEvent(raw []byte) error {
	var e struct {
		DetailType string          `json:"detail-type"`
		Detail     json.RawMessage `json:"detail"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Errorf("event is not JSON: %w", err)
	}
	return Validate(e.DetailType, e.Detail)
}
