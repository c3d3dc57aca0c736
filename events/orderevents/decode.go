package orderevents

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/orderflow/orderflow/events/schemas"
)

// UnknownDetailTypeError is returned for an event whose detail-type this package does not
// decode: a kind of event added after this version, or an event of another producer.
type UnknownDetailTypeError struct {
	DetailType string
}

func (e *UnknownDetailTypeError) Error() string {
	return fmt.Sprintf("orderevents: unknown detail-type %q", e.DetailType)
}

// UnsupportedVersionError is returned for a detail whose schemaVersion has a major this
// package does not decode (or is not MAJOR.MINOR at all): the contract changed in a way
// that breaks this consumer, which needs the package version of that major.
type UnsupportedVersionError struct {
	DetailType DetailType
	Version    string // as the event carries it
	Supported  string // the version this package's schema pins
}

func (e *UnsupportedVersionError) Error() string {
	return fmt.Sprintf("orderevents: %s: schemaVersion %q is not supported (this package decodes %s.x)",
		e.DetailType, e.Version, major(e.Supported))
}

// Violation is one way a detail breaks its schema. Path is a JSON pointer into the
// detail ("/data/total"); for a missing or unexpected member it names that member.
type Violation struct {
	Path    string
	Message string
}

// SchemaError is returned for a detail its schema rejects, with every violation found.
type SchemaError struct {
	DetailType DetailType
	Violations []Violation
}

func (e *SchemaError) Error() string {
	if len(e.Violations) == 0 {
		return fmt.Sprintf("orderevents: %s: detail does not match its schema", e.DetailType)
	}
	v := e.Violations[0]
	msg := fmt.Sprintf("orderevents: %s: %s: %s", e.DetailType, v.Path, v.Message)
	if n := len(e.Violations) - 1; n > 0 {
		msg += fmt.Sprintf(" (and %d more)", n)
	}
	return msg
}

// Path returns the JSON pointer of the first violation ("" when there is none).
func (e *SchemaError) Path() string {
	if len(e.Violations) == 0 {
		return ""
	}
	return e.Violations[0].Path
}

func decodeDetail(dt DetailType, raw json.RawMessage) (Detail, error) {
	if !slices.Contains(DetailTypes(), dt) {
		return Detail{}, &UnknownDetailTypeError{DetailType: string(dt)}
	}
	supported, err := schemas.Version(string(dt))
	if err != nil {
		return Detail{}, fmt.Errorf("orderevents: %w", err)
	}
	var head struct {
		Metadata struct {
			SchemaVersion any `json:"schemaVersion"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return Detail{}, &SchemaError{DetailType: dt, Violations: []Violation{{Path: "", Message: "detail is not a JSON object with an object metadata: " + err.Error()}}}
	}
	exact := true // a missing or non-string version is the schema's to report
	if v, ok := head.Metadata.SchemaVersion.(string); ok {
		if major(v) == "" || major(v) != major(supported) {
			return Detail{}, &UnsupportedVersionError{DetailType: dt, Version: v, Supported: supported}
		}
		exact = v == supported
	}
	if err := schemas.Validate(string(dt), raw); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return Detail{}, &SchemaError{DetailType: dt, Violations: []Violation{{Path: "", Message: err.Error()}}}
		}
		if vs := violations(ve, exact); len(vs) > 0 {
			return Detail{}, &SchemaError{DetailType: dt, Violations: vs}
		}
	}
	var d Detail
	if err := json.Unmarshal(raw, &d); err != nil {
		// The schema admitted what the types cannot hold: a defect of this package.
		return Detail{}, fmt.Errorf("orderevents: %s: decode a valid detail: %w", dt, err)
	}
	return d, nil
}

// major returns the MAJOR of "MAJOR.MINOR", or "" when v is not of that form.
func major(v string) string {
	maj, minor, ok := strings.Cut(v, ".")
	if !ok {
		return ""
	}
	if _, err := strconv.ParseUint(maj, 10, 32); err != nil {
		return ""
	}
	if _, err := strconv.ParseUint(minor, 10, 32); err != nil {
		return ""
	}
	return maj
}

var english = message.NewPrinter(language.English)

// violations flattens a validation error into its leaves. Unless exact (the detail's
// schemaVersion is the one this package's schema pins), the differences a newer or older
// minor version may legitimately have are dropped: the pinned schemaVersion itself,
// members the schema does not know, and enum values it does not list.
func violations(ve *jsonschema.ValidationError, exact bool) []Violation {
	var out []Violation
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		path := pointer(e.InstanceLocation)
		switch k := e.ErrorKind.(type) {
		case *kind.Const:
			if !exact && path == "/metadata/schemaVersion" {
				return
			}
		case *kind.Enum:
			if !exact {
				return
			}
		case *kind.AdditionalProperties:
			if !exact {
				return
			}
			for _, p := range k.Properties {
				out = append(out, Violation{Path: path + "/" + escape(p), Message: "not allowed: the schema has no such member"})
			}
			return
		case *kind.Required:
			for _, p := range k.Missing {
				out = append(out, Violation{Path: path + "/" + escape(p), Message: "missing: the schema requires it"})
			}
			return
		}
		out = append(out, Violation{Path: path, Message: e.ErrorKind.LocalizedString(english)})
	}
	walk(ve)
	return out
}

// pointer returns the JSON pointer (RFC 6901) of an instance location.
func pointer(loc []string) string {
	var b strings.Builder
	for _, s := range loc {
		b.WriteString("/" + escape(s))
	}
	return b.String()
}

func escape(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}
