package template

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The checks in this file cover what only a deployment would show: the local stack runs
// no Athena, no API Gateway import, no lifecycle rule and no billing, so a mistake there
// passes every local test.

// CheckPartition reports ARNs and endpoint hosts written for the aws partition only:
// "arn:aws:" and "amazonaws.com" literals in resource properties, outputs, conditions and
// rules. In aws-cn and aws-us-gov such a stack points at resources that do not exist;
// ${AWS::Partition} and ${AWS::URLSuffix} are right everywhere. Service principals
// (Principal.Service, a Lambda permission's Principal) are exempt: IAM names them
// <service>.amazonaws.com in every partition. Descriptions are prose and exempt too.
// State machine definitions (inline or DefinitionUri files) are read as well, Comments
// exempt: there a DefinitionSubstitutions entry set to ${AWS::Partition} is the way.
func CheckPartition(t *Template) []Problem {
	ms, ps := t.machines("partition")
	report := func(where, path, s string) {
		for _, lit := range []string{"arn:aws:", "amazonaws.com"} {
			if strings.Contains(s, lit) {
				ps = append(ps, Problem{"partition", where, fmt.Sprintf("%s: literal %q in %q: use ${AWS::Partition} / ${AWS::URLSuffix}", path, lit, s)})
			}
		}
	}
	for _, id := range t.IDs() {
		r := t.Resources[id]
		skip := func(path []string) bool {
			last := path[len(path)-1]
			switch {
			case strings.HasSuffix(last, "Description"):
				return true
			case last == "Service" && len(path) >= 2 && path[len(path)-2] == "Principal":
				return true
			case r.Type == "AWS::Lambda::Permission" && len(path) == 2 && last == "Principal":
				return true
			}
			return false
		}
		walkStrings(r.Properties, []string{"Properties"}, skip, func(path []string, s string) { report(id, strings.Join(path, "."), s) })
	}
	for _, sec := range []struct {
		name string
		m    map[string]any
	}{{"Conditions", t.Conditions}, {"Rules", t.Rules}} {
		walkStrings(sec.m, []string{sec.name}, func(path []string) bool {
			return strings.HasSuffix(path[len(path)-1], "Description")
		}, func(path []string, s string) { report("", strings.Join(path, "."), s) })
	}
	for _, m := range ms {
		var def any
		if json.Unmarshal([]byte(m.text), &def) != nil {
			continue
		}
		walkStrings(def, []string{"Definition"}, func(path []string) bool { return path[len(path)-1] == "Comment" },
			func(path []string, s string) { report(m.id, strings.Join(path, "."), s) })
	}
	for _, id := range slices.Sorted(maps.Keys(t.Outputs)) {
		walkStrings(t.Outputs[id].Value, []string{"Outputs", id}, func([]string) bool { return false },
			func(path []string, s string) { report("", strings.Join(path, "."), s) })
	}
	sortProblems(ps)
	return ps
}

// walkStrings calls fn for every string in v with its path of keys, skipping the
// subtrees under a path for which skip is true. List indexes are written [i].
func walkStrings(v any, path []string, skip func([]string) bool, fn func([]string, string)) {
	switch x := v.(type) {
	case string:
		fn(path, x)
	case []any:
		for i, e := range x {
			p := append(append([]string(nil), path[:len(path)-1]...), fmt.Sprintf("%s[%d]", path[len(path)-1], i))
			walkStrings(e, p, skip, fn)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			p := append(append([]string(nil), path...), k)
			if skip(p) {
				continue
			}
			walkStrings(x[k], p, skip, fn)
		}
	}
}

// archiveClasses are the storage classes Athena skips: objects there must be restored
// before a query sees them (Glacier Instant Retrieval, Standard-IA and Intelligent-Tiering's
// frequent/infrequent tiers are read like Standard).
var archiveClasses = map[string]bool{"GLACIER": true, "DEEP_ARCHIVE": true}

// CheckQueryableLifecycle reports lifecycle rules and Intelligent-Tiering archive tiers
// that move objects a Glue table reads (its bucket and location prefix) to a class
// Athena skips: the rows vanish from query results without an error.
func CheckQueryableLifecycle(t *Template) []Problem {
	var ps []Problem
	for _, g := range t.GlueTables() {
		if g.Bucket == "" {
			continue
		}
		props := t.Resources[g.Bucket].Properties
		lc := mapAt(props, "LifecycleConfiguration")
		for i, rv := range list(lc["Rules"]) {
			rule, _ := rv.(map[string]any)
			if rule["Status"] != "Enabled" || !overlaps(rule["Prefix"], g.Prefix) {
				continue
			}
			name := fmt.Sprintf("Rules[%d]", i)
			if id, ok := rule["Id"].(string); ok {
				name = id
			}
			transitions := list(rule["Transitions"])
			if tr, ok := rule["Transition"]; ok {
				transitions = append(transitions, tr)
			}
			for _, tv := range transitions {
				tr, _ := tv.(map[string]any)
				if class, _ := tr["StorageClass"].(string); archiveClasses[class] {
					ps = append(ps, Problem{"lifecycle", g.Bucket, fmt.Sprintf("lifecycle rule %s moves %s (read by Glue table %s) to %s, which Athena skips: use STANDARD_IA or GLACIER_IR, or archive under another prefix", name, g.Prefix, g.Name, class)})
				}
			}
		}
		for _, cv := range list(props["IntelligentTieringConfigurations"]) {
			cfg, _ := cv.(map[string]any)
			if cfg["Status"] != "Enabled" || !overlaps(cfg["Prefix"], g.Prefix) {
				continue
			}
			for _, tv := range list(cfg["Tierings"]) {
				tier, _ := tv.(map[string]any)
				if at, _ := tier["AccessTier"].(string); at == "ARCHIVE_ACCESS" || at == "DEEP_ARCHIVE_ACCESS" {
					ps = append(ps, Problem{"lifecycle", g.Bucket, fmt.Sprintf("Intelligent-Tiering %v archives %s (read by Glue table %s) to %s, which Athena skips", cfg["Id"], g.Prefix, g.Name, at)})
				}
			}
		}
	}
	sortProblems(ps)
	return ps
}

// overlaps reports whether a rule's prefix (nil or "" = the whole bucket) and a table's
// prefix select common keys.
func overlaps(rulePrefix any, prefix string) bool {
	rp, _ := rulePrefix.(string)
	return strings.HasPrefix(rp, prefix) || strings.HasPrefix(prefix, rp)
}

// CheckCostAlarm reports cost alarms that cannot fire: CloudWatch alarms on AWS/Billing
// (the metric exists only in us-east-1, so anywhere else the alarm has no data or, behind
// a region condition, no alarm at all), and AWS::Budgets::Budget notifications to an SNS
// topic of the template that Budgets may not publish to: the topic needs a policy
// allowing budgets.amazonaws.com sns:Publish and, when it is encrypted with a key of the
// template, a key policy allowing budgets.amazonaws.com kms:GenerateDataKey* and
// kms:Decrypt.
func CheckCostAlarm(t *Template) []Problem {
	var ps []Problem
	for _, id := range t.IDs("AWS::CloudWatch::Alarm") {
		if t.Resources[id].Properties["Namespace"] == "AWS/Billing" {
			ps = append(ps, Problem{"cost-alarm", id, "alarm on AWS/Billing: billing metrics exist only in us-east-1; use AWS::Budgets::Budget, which works from any region"})
		}
	}
	for _, id := range t.IDs("AWS::Budgets::Budget") {
		subs := 0
		for _, nv := range list(t.Resources[id].Properties["NotificationsWithSubscribers"]) {
			n, _ := nv.(map[string]any)
			for _, sv := range list(n["Subscribers"]) {
				sub, _ := sv.(map[string]any)
				subs++
				if sub["SubscriptionType"] != "SNS" {
					continue
				}
				topic, ok := Target(sub["Address"])
				if !ok || t.Resources[topic].Type != "AWS::SNS::Topic" {
					continue
				}
				if !t.topicAllows(topic, "budgets.amazonaws.com", "sns:publish") {
					ps = append(ps, Problem{"cost-alarm", id, "topic " + topic + " has no policy letting budgets.amazonaws.com sns:Publish: Budgets cannot notify it"})
				}
				if key, ok := Target(t.Resources[topic].Properties["KmsMasterKeyId"]); ok && t.Resources[key].Type == "AWS::KMS::Key" {
					for _, a := range []string{"kms:generatedatakey", "kms:decrypt"} {
						if !allows(t.Resources[key].Properties["KeyPolicy"], "budgets.amazonaws.com", a) {
							ps = append(ps, Problem{"cost-alarm", id, fmt.Sprintf("key %s of topic %s does not allow budgets.amazonaws.com %s", key, topic, a)})
						}
					}
				}
			}
		}
		if subs == 0 {
			ps = append(ps, Problem{"cost-alarm", id, "budget notifies no subscriber"})
		}
	}
	sortProblems(ps)
	return ps
}

// topicAllows reports whether a topic policy of the template covering topic allows
// service the action.
func (t *Template) topicAllows(topic, service, action string) bool {
	for _, pid := range t.IDs("AWS::SNS::TopicPolicy") {
		p := t.Resources[pid].Properties
		covers := false
		for _, tv := range list(p["Topics"]) {
			if id, ok := Target(tv); ok && id == topic {
				covers = true
			}
		}
		if covers && allows(p["PolicyDocument"], service, action) {
			return true
		}
	}
	return false
}

// allows reports whether a policy document has an Allow statement for the service
// principal and the action (case-insensitive; a trailing * in the policy's action
// matches, as "kms:GenerateDataKey*" matches kms:GenerateDataKey).
func allows(doc any, service, action string) bool {
	d, _ := doc.(map[string]any)
	for _, sv := range list(d["Statement"]) {
		s, _ := sv.(map[string]any)
		if s["Effect"] != "Allow" {
			continue
		}
		pr, _ := s["Principal"].(map[string]any)
		if !contains(allStrings(pr["Service"]), service) {
			continue
		}
		for _, a := range allStrings(s["Action"]) {
			a = strings.ToLower(a)
			if a == action || (strings.HasSuffix(a, "*") && strings.HasPrefix(action, strings.TrimSuffix(a, "*"))) {
				return true
			}
		}
	}
	return false
}

// CheckDefaultRoute reports OpenAPI operations of HTTP APIs that look like the catch-all
// route but are not: API Gateway imports the $default route only from an
// x-amazon-apigateway-any-method operation marked `isDefaultRoute: true`; a "/$default"
// path without the marker is a literal route that no client calls, and unknown paths get
// API Gateway's bare 404.
func CheckDefaultRoute(t *Template) []Problem {
	var ps []Problem
	for _, aid := range t.IDs("AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api") {
		paths := openAPIPaths(t.Resources[aid].Properties)
		for _, path := range slices.Sorted(maps.Keys(paths)) {
			ops, _ := paths[path].(map[string]any)
			for _, method := range slices.Sorted(maps.Keys(ops)) {
				op, _ := ops[method].(map[string]any)
				marked := op["isDefaultRoute"] == true
				switch {
				case path == "/$default" && method != anyMethod:
					ps = append(ps, Problem{"default-route", aid, fmt.Sprintf("%s %s: the $default route takes every method: declare it as %s with isDefaultRoute: true", method, path, anyMethod)})
				case path == "/$default" && !marked:
					ps = append(ps, Problem{"default-route", aid, fmt.Sprintf("%s %s lacks isDefaultRoute: true: API Gateway imports it as a literal route, not the catch-all", method, path)})
				case marked && method != anyMethod:
					ps = append(ps, Problem{"default-route", aid, fmt.Sprintf("%s %s: isDefaultRoute is honoured only on %s", method, path, anyMethod)})
				}
			}
		}
	}
	return ps
}

// anyMethod is API Gateway's OpenAPI extension for an operation of every method.
const anyMethod = "x-amazon-apigateway-any-method"

// openAPIPaths returns the paths of an API's OpenAPI body (DefinitionBody or Body).
func openAPIPaths(props map[string]any) map[string]any {
	body, _ := props["DefinitionBody"].(map[string]any)
	if body == nil {
		body, _ = props["Body"].(map[string]any)
	}
	paths, _ := body["paths"].(map[string]any)
	return paths
}

// minPointerRetention is the stream retention (hours) under which an on-failure
// destination that keeps only pointers (SQS, SNS) loses the records: a week leaves time
// to notice, fix and replay.
const minPointerRetention = 168

// CheckStreamFailureRecords reports Kinesis and DynamoDB-stream mappings whose on-failure
// destination is an SQS queue or SNS topic of the template while the stream keeps records
// less than a week: those destinations get only the batch's position in the stream, and
// once the stream drops the records (Kinesis: 24 h by default) nothing is left to replay.
// An S3 destination keeps the records themselves.
func CheckStreamFailureRecords(t *Template) []Problem {
	var ps []Problem
	for _, m := range t.mappings() {
		if m.kind != "kinesis" && m.kind != "dynamodb" {
			continue
		}
		dc, _ := m.props["DestinationConfig"].(map[string]any)
		dest, ok := Target(mapAt(dc, "OnFailure")["Destination"])
		if !ok {
			continue
		}
		typ := t.Resources[dest].Type
		if typ != "AWS::SQS::Queue" && typ != "AWS::SNS::Topic" {
			continue
		}
		hours := 24 // both Kinesis' default and DynamoDB Streams' fixed retention
		if m.kind == "kinesis" {
			if h, ok := t.Resources[m.source].Properties["RetentionPeriodHours"].(int); ok {
				hours = h
			}
		}
		if hours < minPointerRetention {
			ps = append(ps, Problem{"stream-failures", m.id, fmt.Sprintf("on-failure destination %s (%s) receives only pointers into %s, which keeps records %d h: use an S3 bucket, which keeps the records", dest, typ, m.source, hours)})
		}
	}
	return ps
}
