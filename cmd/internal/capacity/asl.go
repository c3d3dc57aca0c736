package capacity

import (
	"encoding/json"
	"fmt"
)

// HappyPath returns the states a Standard execution enters on the happy path of an ASL
// definition: from StartAt along Next (a Choice's Default) to a Succeed, Fail or End state
// (OutcomePath with no error raised). It returns an error for a missing state or a loop.
func HappyPath(asl []byte) ([]string, error) { return OutcomePath(asl, Outcome{}) }

// Outcome is one way an order ends and the errors on its way: the state that raises each
// and the error name its Catch matches.
type Outcome struct {
	Name   string
	Raises map[string]string // state → error
}

// Outcomes are the order outcomes section 6 counts the transitions of.
var Outcomes = []Outcome{
	{Name: "confirmed"},
	{Name: "cancelled, out of stock", Raises: map[string]string{"ReserveInventory": "OutOfStock"}},
	{Name: "cancelled, payment declined (stock released)", Raises: map[string]string{"AuthorizePayment": "PaymentDeclinedError"}},
	{Name: "rejected, unknown SKU", Raises: map[string]string{"ValidateAndPrice": "UnknownSKUError"}},
}

// OutcomePath returns the states a Standard execution enters for outcome o: from StartAt
// along Next, a Choice's Default, and, at a state that raises an error, the Next of the
// Catch that matches it, to a Succeed, Fail or End state. It returns an error for a
// missing state, an error no Catch matches, or a loop.
func OutcomePath(asl []byte, o Outcome) ([]string, error) {
	var d struct {
		StartAt string
		States  map[string]struct {
			Type    string
			Next    string
			Default string
			End     bool
			Catch   []struct {
				ErrorEquals []string
				Next        string
			}
		}
	}
	if err := json.Unmarshal(asl, &d); err != nil {
		return nil, err
	}
	var path []string
	seen := map[string]bool{}
	for name := d.StartAt; name != ""; {
		st, ok := d.States[name]
		if !ok {
			return nil, fmt.Errorf("state %q is not defined", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("path loops at %q", name)
		}
		seen[name] = true
		path = append(path, name)
		if e, raises := o.Raises[name]; raises {
			next := ""
			for _, c := range st.Catch {
				for _, n := range c.ErrorEquals {
					if next == "" && (n == e || n == "States.ALL") {
						next = c.Next
					}
				}
			}
			if next == "" {
				return nil, fmt.Errorf("no Catch of %q matches %s", name, e)
			}
			name = next
			continue
		}
		switch {
		case st.Type == "Succeed" || st.Type == "Fail" || st.End:
			return path, nil
		case st.Type == "Choice":
			name = st.Default
		default:
			name = st.Next
		}
	}
	return nil, fmt.Errorf("path ends without a terminal state after %v", path)
}
