// Package schemas embeds the JSON Schemas of the business events orderflow publishes and
// validates event details against them. Consumers can take the .json files as they are.
package schemas

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed *.json
var files embed.FS

// File returns the schema file name for a detail-type: "Order Created" → "order-created.json".
// That is the file of major 1; a later major N lives beside it as "order-created.vN.json"
// (the breaking-change gate in tools/eventcontract holds the files to these names).
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

// Names returns the schema file names, sorted.
func Names() []string {
	once.Do(load)
	out := make([]string, 0, len(compiled))
	for n := range compiled {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Read returns the schema file name as committed (draft 2020-12 JSON). It returns an
// error for a name that is not one of Names.
func Read(name string) ([]byte, error) {
	return files.ReadFile(name)
}

// Version returns the schemaVersion the schema of a detail-type pins (the `const` of
// metadata.schemaVersion, e.g. "1.0"). It returns an error for an unknown detail-type or a
// schema that does not pin one.
func Version(detailType string) (string, error) {
	raw, err := Read(File(detailType))
	if err != nil {
		return "", fmt.Errorf("no schema for detail-type %q", detailType)
	}
	return VersionOf(raw)
}

// VersionOf returns the schemaVersion a schema document pins (the `const` of
// properties.metadata.properties.schemaVersion), or an error when it pins none.
func VersionOf(schema []byte) (string, error) {
	var doc struct {
		Properties struct {
			Metadata struct {
				Properties struct {
					SchemaVersion struct {
						Const string `json:"const"`
					} `json:"schemaVersion"`
				} `json:"properties"`
			} `json:"metadata"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(schema, &doc); err != nil {
		return "", fmt.Errorf("schema is not JSON: %w", err)
	}
	v := doc.Properties.Metadata.Properties.SchemaVersion.Const
	if v == "" {
		return "", errors.New("schema pins no metadata.schemaVersion const")
	}
	return v, nil
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
