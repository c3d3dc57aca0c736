// Package template loads a CloudFormation / SAM template (YAML or JSON) into a generic,
// JSON-like representation and checks it against orderflow's reliability and security
// rules.
//
// Short-form intrinsic tags are expanded to their long form while loading: `!Ref X` becomes
// map[string]any{"Ref": "X"}, `!GetAtt A.B` becomes {"Fn::GetAtt": ["A", "B"]}, `!Sub s`
// becomes {"Fn::Sub": s}, `!Condition C` becomes {"Condition": "C"}, and so on, so callers
// see the same shapes as in a JSON template. Values are map[string]any, []any, string, int,
// float64, bool or nil.
package template

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Template is a parsed template. Sections absent from the file are empty, not nil.
type Template struct {
	// Path is the file the template was loaded from; empty when parsed from bytes.
	Path string
	// Dir is the directory relative paths in the template (CodeUri, DefinitionUri,
	// Location) are resolved against: the template's directory, or "." for Parse.
	Dir                      string
	AWSTemplateFormatVersion string
	Description              string
	// Transform is the Transform section as written (a string or a list), nil if absent.
	Transform  any
	Parameters map[string]Parameter
	Mappings   map[string]any
	Conditions map[string]any
	Rules      map[string]any
	// Globals is SAM's Globals section, keyed by resource kind ("Function", "Api", ...).
	Globals   map[string]any
	Resources map[string]Resource
	Outputs   map[string]Output
}

// Parameter is one entry of the Parameters section.
type Parameter struct {
	Type          string
	Default       any // nil when the parameter has no default
	AllowedValues []any
	Description   string
	// Raw holds every attribute as written (MinValue, AllowedPattern, NoEcho, ...).
	Raw map[string]any
}

// Resource is one entry of the Resources section.
type Resource struct {
	Type       string
	Properties map[string]any
	Condition  string
	DependsOn  []string
	Metadata   map[string]any
	// Raw holds every attribute as written (DeletionPolicy, UpdateReplacePolicy, ...).
	Raw map[string]any
}

// Output is one entry of the Outputs section.
type Output struct {
	Description string
	Value       any
	Condition   string
	Export      any
}

// Load reads and parses the template at path. It returns an error when the file cannot be
// read, is not YAML/JSON, uses an unknown `!` tag, or a section has the wrong shape.
func Load(path string) (*Template, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load template: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("load template %s: %w", path, err)
	}
	t.Path = path
	t.Dir = filepath.Dir(path)
	return t, nil
}

// Parse parses a template from YAML or JSON bytes. Errors as for Load.
func Parse(data []byte) (*Template, error) {
	doc, err := Decode(data)
	if err != nil {
		return nil, err
	}
	root, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("template is %T, want a mapping", doc)
	}
	t := &Template{
		Dir:        ".",
		Transform:  root["Transform"],
		Parameters: map[string]Parameter{},
		Mappings:   map[string]any{},
		Conditions: map[string]any{},
		Rules:      map[string]any{},
		Globals:    map[string]any{},
		Resources:  map[string]Resource{},
		Outputs:    map[string]Output{},
	}
	t.AWSTemplateFormatVersion, _ = root["AWSTemplateFormatVersion"].(string)
	t.Description, _ = root["Description"].(string)
	for name, dst := range map[string]*map[string]any{
		"Mappings": &t.Mappings, "Conditions": &t.Conditions, "Rules": &t.Rules, "Globals": &t.Globals,
	} {
		if v, ok := root[name]; ok && v != nil {
			m, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("section %s is %T, want a mapping", name, v)
			}
			*dst = m
		}
	}
	params, err := section(root, "Parameters")
	if err != nil {
		return nil, err
	}
	for id, v := range params {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("parameter %s is %T, want a mapping", id, v)
		}
		p := Parameter{Default: m["Default"], Raw: m}
		p.Type, _ = m["Type"].(string)
		p.Description, _ = m["Description"].(string)
		p.AllowedValues, _ = m["AllowedValues"].([]any)
		t.Parameters[id] = p
	}
	resources, err := section(root, "Resources")
	if err != nil {
		return nil, err
	}
	for id, v := range resources {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("resource %s is %T, want a mapping", id, v)
		}
		r := Resource{Raw: m, Properties: map[string]any{}, Metadata: map[string]any{}}
		r.Type, _ = m["Type"].(string)
		if r.Type == "" {
			return nil, fmt.Errorf("resource %s has no Type", id)
		}
		if p, ok := m["Properties"].(map[string]any); ok {
			r.Properties = p
		}
		if md, ok := m["Metadata"].(map[string]any); ok {
			r.Metadata = md
		}
		r.Condition, _ = m["Condition"].(string)
		switch d := m["DependsOn"].(type) {
		case string:
			r.DependsOn = []string{d}
		case []any:
			for _, x := range d {
				if s, ok := x.(string); ok {
					r.DependsOn = append(r.DependsOn, s)
				}
			}
		}
		t.Resources[id] = r
	}
	outputs, err := section(root, "Outputs")
	if err != nil {
		return nil, err
	}
	for id, v := range outputs {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("output %s is %T, want a mapping", id, v)
		}
		o := Output{Value: m["Value"], Export: m["Export"]}
		o.Description, _ = m["Description"].(string)
		o.Condition, _ = m["Condition"].(string)
		t.Outputs[id] = o
	}
	return t, nil
}

func section(root map[string]any, name string) (map[string]any, error) {
	v, ok := root[name]
	if !ok || v == nil {
		return map[string]any{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("section %s is %T, want a mapping", name, v)
	}
	return m, nil
}

// IDs returns the logical IDs of the resources of the given types (all resources when none
// is given), sorted.
func (t *Template) IDs(types ...string) []string {
	var ids []string
	for id, r := range t.Resources {
		if len(types) == 0 || contains(types, r.Type) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// Decode parses one YAML or JSON document into the generic representation, expanding
// CloudFormation short-form tags. It returns an error for invalid YAML or an unknown tag.
func Decode(data []byte) (any, error) {
	var n yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&n); err != nil {
		return nil, fmt.Errorf("parse yaml: %w", err)
	}
	return convert(&n)
}

// shortForms maps a short-form tag to its long-form key. !GetAtt is handled apart because
// its scalar form "A.B" becomes a list.
var shortForms = map[string]string{
	"!Ref":          "Ref",
	"!Condition":    "Condition",
	"!Sub":          "Fn::Sub",
	"!If":           "Fn::If",
	"!Join":         "Fn::Join",
	"!Select":       "Fn::Select",
	"!Equals":       "Fn::Equals",
	"!Not":          "Fn::Not",
	"!And":          "Fn::And",
	"!Or":           "Fn::Or",
	"!FindInMap":    "Fn::FindInMap",
	"!Split":        "Fn::Split",
	"!GetAZs":       "Fn::GetAZs",
	"!ImportValue":  "Fn::ImportValue",
	"!Base64":       "Fn::Base64",
	"!Cidr":         "Fn::Cidr",
	"!Length":       "Fn::Length",
	"!ToJsonString": "Fn::ToJsonString",
	"!Transform":    "Fn::Transform",
}

func convert(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return convert(n.Content[0])
	case yaml.AliasNode:
		return convert(n.Alias)
	}
	tag := n.Tag
	if strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!") {
		return intrinsic(n)
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping key is not a scalar", k.Line)
			}
			val, err := convert(v)
			if err != nil {
				return nil, err
			}
			m[k.Value] = val
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := convert(c)
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		return scalar(n)
	}
	return nil, fmt.Errorf("line %d: unexpected yaml node kind %d", n.Line, n.Kind)
}

func scalar(n *yaml.Node) (any, error) {
	switch n.Tag {
	case "!!str", "!!binary", "!!timestamp", "":
		return n.Value, nil
	case "!!null":
		return nil, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, fmt.Errorf("line %d: %w", n.Line, err)
	}
	return v, nil
}

func intrinsic(n *yaml.Node) (any, error) {
	// The node without its tag, decoded as plain YAML.
	plain := *n
	plain.Tag = ""
	if n.Kind == yaml.ScalarNode {
		plain.Tag = "!!str"
	}
	v, err := convert(&plain)
	if err != nil {
		return nil, err
	}
	if n.Tag == "!GetAtt" {
		if s, ok := v.(string); ok {
			res, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q: want Resource.Attribute", n.Line, s)
			}
			return map[string]any{"Fn::GetAtt": []any{res, attr}}, nil
		}
		return map[string]any{"Fn::GetAtt": v}, nil
	}
	key, ok := shortForms[n.Tag]
	if !ok {
		return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
	}
	return map[string]any{key: v}, nil
}

// JSON returns v (a value of the generic representation) as indented JSON, for messages and
// tests. It returns an error only for values outside the representation.
func JSON(v any) (string, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	return string(b), err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
