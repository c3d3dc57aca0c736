package template

import (
	"strings"
	"testing"
)

// TestRepositoryBusPolicy pins the consumer subscription of template.yaml: with the
// parameters at their defaults no bus policy exists; ConsumerAccountIds and
// ConsumerOrganizationId each switch on their own policies (rule creation and rule
// management), and CheckBusPolicy finds nothing in them (never PutEvents, rules of the
// orders bus only, creator account, our source).
func TestRepositoryBusPolicy(t *testing.T) {
	tpl := loadRepo(t)
	policies := tpl.IDs("AWS::Events::EventBusPolicy")
	if len(policies) == 0 {
		t.Fatal("no AWS::Events::EventBusPolicy: consumers in other accounts cannot subscribe")
	}
	on := func(params map[string]string) []string {
		var out []string
		for _, id := range policies {
			c := tpl.Resources[id].Condition
			if c == "" {
				t.Fatalf("%s has no Condition", id)
			}
			v, err := tpl.ConditionValue(c, params)
			if err != nil {
				t.Fatal(err)
			}
			if v {
				out = append(out, id)
			}
		}
		return out
	}
	if got := on(nil); len(got) != 0 {
		t.Errorf("with the parameters at their defaults, %v exist", got)
	}
	for _, tc := range []struct{ param, value, prefix string }{
		{"ConsumerAccountIds", "111111111111,222222222222", "ConsumerAccounts"},
		{"ConsumerOrganizationId", "o-abcdefghij", "ConsumerOrganization"},
	} {
		param := tc.param
		got := on(map[string]string{param: tc.value})
		if len(got) != 2 {
			t.Errorf("with %s set, %v exist; want its create-rules and manage-rules policies", param, got)
		}
		for _, id := range got {
			if !strings.HasPrefix(id, tc.prefix) {
				t.Errorf("%s is switched on by %s", id, param)
			}
			if bus, _ := tpl.Resources[id].Properties["EventBusName"].(map[string]any); bus["Ref"] != "OrdersBus" {
				t.Errorf("%s is on %v, want the orders bus", id, tpl.Resources[id].Properties["EventBusName"])
			}
		}
	}
	if ps := CheckBusPolicy(tpl); len(ps) != 0 {
		t.Errorf("%v", ps)
	}
}
