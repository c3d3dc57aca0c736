package capacity

import (
	"os"
	"strings"
	"testing"
)

// The outcomes' paths through the repository's state machine: the transitions section 6
// reports for each.
func TestOutcomePaths(t *testing.T) {
	asl, err := os.ReadFile("../../../statemachine/order-processing.asl.json")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"confirmed": 3, "cancelled, out of stock": 6,
		"cancelled, payment declined (stock released)": 8, "rejected, unknown SKU": 4}
	for _, o := range Outcomes {
		path, err := OutcomePath(asl, o)
		if err != nil {
			t.Fatalf("%s: %v", o.Name, err)
		}
		if len(path) != want[o.Name] {
			t.Errorf("%s: %d transitions %v, want %d", o.Name, len(path), path, want[o.Name])
		}
	}
	happy, _ := HappyPath(asl)
	if confirmed, _ := OutcomePath(asl, Outcomes[0]); strings.Join(confirmed, ",") != strings.Join(happy, ",") {
		t.Errorf("confirmed %v, happy path %v", confirmed, happy)
	}
	if _, err := OutcomePath(asl, Outcome{Name: "x", Raises: map[string]string{"NoSuchState": "E"}}); err != nil {
		t.Errorf("a raise at a state never entered changes nothing: %v", err)
	}
	if _, err := OutcomePath([]byte(`{"StartAt":"A","States":{"A":{"Type":"Task","Next":"A"}}}`), Outcome{}); err == nil {
		t.Error("a loop was not reported")
	}
}

func TestHappyPath(t *testing.T) {
	tests := []struct {
		name    string
		asl     string
		want    []string
		wantErr bool
	}{
		{"next chain with a choice default", `{"StartAt":"A","States":{"A":{"Type":"Task","Next":"C"},"C":{"Type":"Choice","Default":"D"},"D":{"Type":"Succeed"}}}`,
			[]string{"A", "C", "D"}, false},
		{"end flag", `{"StartAt":"A","States":{"A":{"Type":"Task","End":true}}}`, []string{"A"}, false},
		{"missing state", `{"StartAt":"A","States":{"A":{"Type":"Task","Next":"B"}}}`, nil, true},
		{"loop", `{"StartAt":"A","States":{"A":{"Type":"Pass","Next":"A"}}}`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := HappyPath([]byte(tt.asl))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("HappyPath = %v, want %v", got, tt.want)
			}
		})
	}
}
