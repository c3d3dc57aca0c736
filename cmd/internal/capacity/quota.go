package capacity

import (
	"fmt"
	"math"
)

// Quotas is the dated table of AWS default quotas (bench/quotas.json).
type Quotas struct {
	Date   string  `json:"date"`
	Source string  `json:"source"`
	Quotas []Quota `json:"quotas"`
}

// Quota is one default quota with its values by region ("*" for every other region).
type Quota struct {
	ID         string             `json:"id"`
	Service    string             `json:"service"`
	Limit      string             `json:"limit"`
	Unit       string             `json:"unit"`
	Values     map[string]float64 `json:"values"`
	Adjustable bool               `json:"adjustable"`
	Note       string             `json:"note"`
	Source     string             `json:"source"`
}

// LoadQuotas reads a quota table. It returns the read or decode error, or an error when
// the table has no date or an entry has no id, or a value but no source.
func LoadQuotas(path string) (Quotas, error) {
	var q Quotas
	if err := loadDated(path, "quota table", &q, func() string { return q.Date }); err != nil {
		return q, err
	}
	for _, e := range q.Quotas {
		if e.ID == "" || (len(e.Values) > 0 && e.Source == "") {
			return q, fmt.Errorf("quota table %s: entry %q has no id or no source", path, e.ID)
		}
	}
	return q, nil
}

// Find returns the quota with id; false when there is none.
func (q Quotas) Find(id string) (Quota, bool) {
	for _, e := range q.Quotas {
		if e.ID == id {
			return e, true
		}
	}
	return Quota{}, false
}

// Value returns the quota's value in region: the region's own, else "*", else the
// smallest value listed (lowerBound true: the table does not know the region); 0 and
// false, false when no value is known at all.
func (e Quota) Value(region string) (v float64, lowerBound, ok bool) {
	if v, ok := e.Values[region]; ok {
		return v, false, true
	}
	if v, ok := e.Values["*"]; ok {
		return v, false, true
	}
	if len(e.Values) == 0 {
		return 0, false, false
	}
	v = math.Inf(1)
	for _, x := range e.Values {
		v = math.Min(v, x)
	}
	return v, true, true
}
