package template

import (
	"fmt"
	"strings"
)

// GlueTable is an AWS::Glue::Table of a template: what Athena reads and how.
type GlueTable struct {
	// ID is the logical ID, Name the table name.
	ID, Name string
	// Bucket is the logical ID of the bucket the table's Location names (${Bucket} in an
	// Fn::Sub), Prefix the key prefix after it ("raw/"); both empty when the location is
	// not a bucket of the template.
	Bucket, Prefix string
	Columns        []Column
	PartitionKeys  []Column
	// SerDe is the serialization library; SerDeParams its parameters as written.
	SerDe       string
	SerDeParams map[string]string
	// Parameters are the table parameters (classification, projection.*, ...).
	Parameters map[string]string
}

// Column is a column of a Glue table: its name and Hive type ("string", "bigint",
// "struct<a:string>").
type Column struct {
	Name, Type string
}

// GlueTables returns the template's Glue tables, sorted by logical ID. Values built with
// intrinsics other than a bucket's ${Bucket} in the location are kept as written where
// they are strings and skipped where they are not.
func (t *Template) GlueTables() []GlueTable {
	var out []GlueTable
	for _, id := range t.IDs("AWS::Glue::Table") {
		in := mapAt(t.Resources[id].Properties, "TableInput")
		sd := mapAt(in, "StorageDescriptor")
		serde := mapAt(sd, "SerdeInfo")
		g := GlueTable{ID: id, SerDeParams: map[string]string{}, Parameters: map[string]string{}}
		g.Name, _ = in["Name"].(string)
		g.SerDe, _ = serde["SerializationLibrary"].(string)
		for k, v := range mapAt(serde, "Parameters") {
			if s, ok := v.(string); ok {
				g.SerDeParams[k] = s
			}
		}
		for k, v := range mapAt(in, "Parameters") {
			if s, ok := v.(string); ok {
				g.Parameters[k] = s
			}
		}
		g.Columns = columns(sd["Columns"])
		g.PartitionKeys = columns(in["PartitionKeys"])
		if sub, ok := subString(sd["Location"]); ok {
			if rest, ok := strings.CutPrefix(sub, "s3://${"); ok {
				if bucket, prefix, ok := strings.Cut(rest, "}/"); ok && t.Resources[bucket].Type == "AWS::S3::Bucket" {
					g.Bucket, g.Prefix = bucket, prefix
				}
			}
		}
		out = append(out, g)
	}
	return out
}

func columns(v any) []Column {
	var out []Column
	for _, c := range list(v) {
		m, _ := c.(map[string]any)
		name, _ := m["Name"].(string)
		typ, _ := m["Type"].(string)
		out = append(out, Column{Name: name, Type: strings.TrimSpace(typ)})
	}
	return out
}

// subString returns the template string of an Fn::Sub (either form) or a plain string.
func subString(v any) (string, bool) {
	if s, ok := v.(string); ok {
		return s, true
	}
	m, ok := v.(map[string]any)
	if !ok {
		return "", false
	}
	switch sub := m["Fn::Sub"].(type) {
	case string:
		return sub, true
	case []any:
		if len(sub) > 0 {
			s, ok := sub[0].(string)
			return s, ok
		}
	}
	return "", false
}

func mapAt(m map[string]any, key string) map[string]any {
	v, _ := m[key].(map[string]any)
	return v
}

// HiveType is a parsed Hive column type: a primitive (Kind "string", "bigint", ...), or
// "struct" with Fields, or "array"/"map" with Elem (a map's value; its key is Key).
type HiveType struct {
	Kind   string
	Fields []HiveField
	Elem   *HiveType
	Key    *HiveType
}

// HiveField is a field of a struct type.
type HiveField struct {
	Name string
	Type HiveType
}

// String formats the type as Hive writes it.
func (h HiveType) String() string {
	switch h.Kind {
	case "struct":
		parts := make([]string, len(h.Fields))
		for i, f := range h.Fields {
			parts[i] = f.Name + ":" + f.Type.String()
		}
		return "struct<" + strings.Join(parts, ",") + ">"
	case "array":
		return "array<" + h.Elem.String() + ">"
	case "map":
		return "map<" + h.Key.String() + "," + h.Elem.String() + ">"
	}
	return h.Kind
}

// ParseHiveType parses a Hive type ("bigint", "array<struct<sku:string>>"). Kinds are
// lower-cased; struct field names keep their case. It returns an error for an unbalanced
// or empty type.
func ParseHiveType(s string) (HiveType, error) {
	p := &hiveParser{s: strings.Join(strings.Fields(s), "")}
	h, err := p.parse()
	if err == nil && p.i != len(p.s) {
		err = fmt.Errorf("unexpected %q at %d", p.s[p.i:], p.i)
	}
	if err != nil {
		return HiveType{}, fmt.Errorf("hive type %q: %w", s, err)
	}
	return h, nil
}

type hiveParser struct {
	s string
	i int
}

// ident reads a name or a primitive type, with its parameters: decimal(10,2).
func (p *hiveParser) ident() string {
	start, depth := p.i, 0
	for p.i < len(p.s) && (depth > 0 || !strings.ContainsRune("<>,:", rune(p.s[p.i]))) {
		switch p.s[p.i] {
		case '(':
			depth++
		case ')':
			depth--
		}
		p.i++
	}
	return p.s[start:p.i]
}

func (p *hiveParser) expect(c byte) error {
	if p.i >= len(p.s) || p.s[p.i] != c {
		return fmt.Errorf("want %q at %d", c, p.i)
	}
	p.i++
	return nil
}

func (p *hiveParser) parse() (HiveType, error) {
	kind := strings.ToLower(p.ident())
	if kind == "" {
		return HiveType{}, fmt.Errorf("missing type at %d", p.i)
	}
	h := HiveType{Kind: kind}
	switch kind {
	case "struct":
		if err := p.expect('<'); err != nil {
			return h, err
		}
		for {
			name := p.ident()
			if name == "" {
				return h, fmt.Errorf("missing field name at %d", p.i)
			}
			if err := p.expect(':'); err != nil {
				return h, err
			}
			ft, err := p.parse()
			if err != nil {
				return h, err
			}
			h.Fields = append(h.Fields, HiveField{Name: name, Type: ft})
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
				continue
			}
			return h, p.expect('>')
		}
	case "array":
		if err := p.expect('<'); err != nil {
			return h, err
		}
		e, err := p.parse()
		if err != nil {
			return h, err
		}
		h.Elem = &e
		return h, p.expect('>')
	case "map":
		if err := p.expect('<'); err != nil {
			return h, err
		}
		k, err := p.parse()
		if err != nil {
			return h, err
		}
		if err := p.expect(','); err != nil {
			return h, err
		}
		v, err := p.parse()
		if err != nil {
			return h, err
		}
		h.Key, h.Elem = &k, &v
		return h, p.expect('>')
	}
	return h, nil
}
