package template

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
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

// GlueTables returns the template's Glue tables, sorted by logical ID. Parameters written
// as an Fn::Sub keep its template string (s3://${Bucket}/raw/dt=${!dt}/); values built
// with other intrinsics are skipped.
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
			if s, ok := subString(v); ok {
				g.SerDeParams[k] = s
			}
		}
		for k, v := range mapAt(in, "Parameters") {
			if s, ok := subString(v); ok {
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
	if kind != "struct" && kind != "array" && kind != "map" {
		return h, nil
	}
	if err := p.expect('<'); err != nil {
		return h, err
	}
	// elem parses one type and then expects sep.
	elem := func(sep byte) (*HiveType, error) {
		e, err := p.parse()
		if err != nil {
			return nil, err
		}
		return &e, p.expect(sep)
	}
	var err error
	switch kind {
	case "array":
		h.Elem, err = elem('>')
	case "map":
		if h.Key, err = elem(','); err == nil {
			h.Elem, err = elem('>')
		}
	case "struct":
		for err == nil {
			name := p.ident()
			if name == "" {
				return h, fmt.Errorf("missing field name at %d", p.i)
			}
			if err = p.expect(':'); err != nil {
				break
			}
			var ft HiveType
			if ft, err = p.parse(); err != nil {
				break
			}
			h.Fields = append(h.Fields, HiveField{Name: name, Type: ft})
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
				continue
			}
			return h, p.expect('>')
		}
	}
	return h, err
}

// RowProblems says, one line each, where a JSON row (one line of a JSON-lines object)
// and the table disagree under the OpenX JSON SerDe Athena uses: a declared column the
// row lacks or holds null in (the SerDe reads NULL, and nothing says so), a column whose
// value does not fit its type, and a key (at any depth of a struct) the table does not
// declare (its data is invisible to every query). Keys are mapped to columns as the SerDe
// does: a `mapping.<column>` parameter names the key of a column, and matching ignores
// case unless `case.insensitive` is "false". Partition keys come from the object's path
// and must not be in the row. It returns nil for a row that fits.
func (g GlueTable) RowProblems(row []byte) []string {
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(row))
	dec.UseNumber()
	if err := dec.Decode(&obj); err != nil {
		return []string{"row is not a JSON object: " + err.Error()}
	}
	fold := g.SerDeParams["case.insensitive"] != "false"
	keyOf := func(col string) string {
		if k, ok := g.SerDeParams["mapping."+col]; ok {
			return k
		}
		return col
	}
	var out []string
	used := map[string]bool{}
	for _, c := range g.Columns {
		typ, err := ParseHiveType(c.Type)
		if err != nil {
			out = append(out, "column "+c.Name+": "+err.Error())
			continue
		}
		key, ok := lookup(obj, keyOf(c.Name), fold)
		if ok {
			used[key] = true
		}
		if !ok || obj[key] == nil {
			out = append(out, fmt.Sprintf("column %s: no %q in the row (NULL in every query)", c.Name, keyOf(c.Name)))
			continue
		}
		out = append(out, fits(c.Name, obj[key], typ, fold)...)
	}
	for _, p := range g.PartitionKeys {
		if key, ok := lookup(obj, p.Name, fold); ok {
			used[key] = true
			out = append(out, fmt.Sprintf("partition key %s is in the row: it comes from the object's path", p.Name))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		if !used[k] {
			out = append(out, fmt.Sprintf("key %q is not a column: invisible to queries", k))
		}
	}
	return out
}

// lookup finds name among obj's keys, ignoring case when fold is set.
func lookup(obj map[string]any, name string, fold bool) (string, bool) {
	if _, ok := obj[name]; ok {
		return name, true
	}
	if fold {
		for k := range obj {
			if strings.EqualFold(k, name) {
				return k, true
			}
		}
	}
	return "", false
}

// fitsEach checks the n elements of an array or map (at returns each one's path and
// value) against their type.
func fitsEach(n int, at func(int) (string, any), elem HiveType, fold bool) []string {
	var out []string
	for i := range n {
		p, v := at(i)
		out = append(out, fits(p, v, elem, fold)...)
	}
	return out
}

// fits checks a decoded JSON value (numbers as json.Number) against a Hive type. null
// fits every type below the top level (an optional field).
func fits(path string, v any, h HiveType, fold bool) []string {
	if v == nil {
		return nil
	}
	bad := func() []string { return []string{fmt.Sprintf("%s: %T value does not fit %s", path, v, h)} }
	switch h.Kind {
	case "string", "varchar", "char":
		if _, ok := v.(string); !ok {
			return bad()
		}
	case "tinyint", "smallint", "int", "integer", "bigint":
		n, ok := v.(json.Number)
		if !ok {
			return bad()
		}
		if _, err := n.Int64(); err != nil {
			return bad()
		}
	case "float", "double":
		if _, ok := v.(json.Number); !ok {
			return bad()
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return bad()
		}
	case "array":
		list, ok := v.([]any)
		if !ok {
			return bad()
		}
		return fitsEach(len(list), func(i int) (string, any) { return fmt.Sprintf("%s[%d]", path, i), list[i] }, *h.Elem, fold)
	case "map":
		m, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		keys := slices.Sorted(maps.Keys(m))
		return fitsEach(len(keys), func(i int) (string, any) { return path + "." + keys[i], m[keys[i]] }, *h.Elem, fold)
	case "struct":
		m, ok := v.(map[string]any)
		if !ok {
			return bad()
		}
		var out []string
		used := map[string]bool{}
		for _, f := range h.Fields {
			if k, ok := lookup(m, f.Name, fold); ok {
				used[k] = true
				out = append(out, fits(path+"."+f.Name, m[k], f.Type, fold)...)
			}
		}
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if !used[k] {
				out = append(out, fmt.Sprintf("%s: key %q is not a field of the struct: invisible to queries", path, k))
			}
		}
		return out
	default:
		// timestamp, date, decimal, binary: the SerDe parses strings and numbers; no
		// finer check here.
		switch v.(type) {
		case string, json.Number:
		default:
			return bad()
		}
	}
	return nil
}
