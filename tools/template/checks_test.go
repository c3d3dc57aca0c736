package template

import (
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

func load(t *testing.T, name string) *Template {
	t.Helper()
	tpl, err := Load(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// where returns "Resource" of every problem, sorted, for compact expectations.
func where(ps []Problem) []string {
	out := []string{}
	for _, p := range ps {
		out = append(out, p.Resource)
	}
	sort.Strings(out)
	return out
}

func TestChecks(t *testing.T) {
	makeDir := filepath.Join("testdata", "make")
	tests := []struct {
		name    string
		check   Check
		fixture string
		want    []string // Resource of each expected problem, sorted
		message string   // a substring every problem's message must contain ("" = any)
	}{
		{"build-targets good", BuildTargets(makeDir), "good.yaml", []string{}, ""},
		{"build-targets missing target", BuildTargets(makeDir), "bad-build-target.yaml", []string{"MissingFunction"}, "no build-MissingFunction target"},
		{"build-targets no Makefile at all", BuildTargets(filepath.Join("testdata", "nowhere")), "good.yaml", []string{"StreamFunction", "WorkerFunction"}, "no build-"},

		{"batch-failures good", CheckBatchFailures, "good.yaml", []string{}, ""},
		{"batch-failures sqs and kinesis", CheckBatchFailures, "bad-batch-failures.yaml", []string{"QueueMapping", "StreamFunction.Records"}, "ReportBatchItemFailures"},

		{"queue-dlq good", CheckQueueDLQ, "good.yaml", []string{}, ""},
		{"queue-dlq consumed queue without redrive", CheckQueueDLQ, "bad-queue-dlq.yaml", []string{"Queue"}, "RedrivePolicy"},

		{"failure-destinations good", CheckFailureDestinations, "good.yaml", []string{}, ""},
		{"failure-destinations missing", CheckFailureDestinations, "bad-failure-destinations.yaml",
			[]string{"NoDestinationFunction", "Rule.NoDlq", "Rule.NoDlq", "RuleTargetFunction", "StreamMapping"}, ""},

		{"stream-mappings good", CheckStreamMappings, "good.yaml", []string{}, ""},
		// Kinesis: no bisection, retries -1, no record age (3). DynamoDB: SQS destination,
		// no StreamSpecification, and none of the four stream reads allowed (6).
		{"stream-mappings unbounded, unkept, unpermitted", CheckStreamMappings, "bad-stream-mappings.yaml",
			[]string{"KinesisMapping", "KinesisMapping", "KinesisMapping",
				"TableMapping", "TableMapping", "TableMapping", "TableMapping", "TableMapping", "TableMapping"}, ""},

		{"iam good", CheckIAM, "good.yaml", []string{}, ""},
		{"iam wildcards", CheckIAM, "bad-iam.yaml", []string{"Function", "Function", "Policy", "Policy", "Role"}, ""},

		{"encryption good", CheckEncryption, "good.yaml", []string{}, ""},
		{"encryption missing", CheckEncryption, "bad-encryption.yaml", []string{"Bucket", "Queue", "Stream", "Table", "Topic"}, "unencrypted"},

		{"jwt-auth no API", CheckJWTAuth, "good.yaml", []string{}, ""},
		{"jwt-auth wired through", CheckJWTAuth, "good-jwt-auth.yaml", []string{}, ""},
		// The wiring of template.yaml before customers owned their orders.
		{"jwt-auth claim never reaches the function", CheckJWTAuth, "bad-jwt-auth.yaml", []string{"Api", "Function"}, ""},
		// No issuer, no audience; the claim in IAM mode too; GET /orders cannot query.
		{"jwt-auth half wired", CheckJWTAuth, "bad-jwt-config.yaml", []string{"Api", "Api", "Function", "Function"}, ""},

		{"partition good", CheckPartition, "good.yaml", []string{}, ""},
		{"partition literals", CheckPartition, "bad-partition.yaml", []string{"", "", "Permission", "Role"}, "use ${AWS::Partition}"},

		{"lifecycle good", CheckQueryableLifecycle, "good.yaml", []string{}, ""},
		{"lifecycle archives what Athena reads", CheckQueryableLifecycle, "bad-lifecycle.yaml", []string{"Bucket", "Bucket", "Bucket"}, "Athena skips"},

		{"cost-alarm good", CheckCostAlarm, "good.yaml", []string{}, ""},
		{"cost-alarm billing alarm, unusable topic", CheckCostAlarm, "bad-cost-alarm.yaml",
			[]string{"BillingAlarm", "Budget", "Budget", "Budget", "SilentBudget"}, ""},

		{"default-route good", CheckDefaultRoute, "good.yaml", []string{}, ""},
		{"default-route unmarked or misplaced", CheckDefaultRoute, "bad-default-route.yaml", []string{"Api", "Api", "Api"}, ""},

		{"stream-failures good", CheckStreamFailureRecords, "good.yaml", []string{}, ""},
		{"stream-failures pointers into a 24 h stream", CheckStreamFailureRecords, "bad-stream-failures.yaml", []string{"ToQueue", "ToTopic"}, "receives only pointers into Stream, which keeps records 24 h"},

		{"partition in a definition", CheckPartition, "bad-statemachine.yaml", []string{"Machine"}, "Definition.States.Callback.Resource"},

		{"lambda-retry good", CheckLambdaRetry, "good.yaml", []string{}, ""},
		{"lambda-retry missing and emulator-only names", CheckLambdaRetry, "bad-statemachine.yaml",
			[]string{"Machine", "Machine", "Machine", "Machine", "Machine"}, "state Work: "},

		{"execution-timeout good", CheckExecutionTimeout, "good.yaml", []string{}, ""},
		{"execution-timeout none, too short, dead heartbeat", CheckExecutionTimeout, "bad-statemachine.yaml", []string{"Machine", "Machine", "Untimed"}, ""},

		{"rule-input good", CheckRuleInput, "good.yaml", []string{}, ""},
		{"rule-input paths the pattern does not require", CheckRuleInput, "bad-statemachine.yaml", []string{"Rule", "Rule"}, "States.Runtime"},

		{"state-machine-logs good", CheckStateMachineLogs, "good.yaml", []string{}, ""},
		{"state-machine-logs task tokens with execution data", CheckStateMachineLogs, "bad-statemachine.yaml", []string{"Machine"}, "IncludeExecutionData"},

		{"capacity-knobs none declared", CheckCapacityKnobs, "good.yaml", []string{}, ""},
		{"capacity-knobs wired", CheckCapacityKnobs, "good-capacity.yaml", []string{}, ""},
		// Rate and burst swapped (2), the literal MaximumConcurrency, a ShardCount when on
		// demand, warm throughput set at 0, a table without it, a knob for no mapping, the
		// inventory strategy a literal (wrong for one of its values), the sold-out
		// short-cut for a function the template lacks.
		{"capacity-knobs mis-wired", CheckCapacityKnobs, "bad-capacity.yaml",
			[]string{"", "", "Api", "Api", "InventoryFunction", "OtherTable", "QueueMapping", "Stream", "Table"}, ""},

		{"definition-substitutions good", CheckDefinitionSubstitutions, "good.yaml", []string{}, ""},
		{"definition-substitutions mismatched", CheckDefinitionSubstitutions, "bad-substitutions.yaml",
			[]string{"Inline", "Machine", "Machine", "MissingFile"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps := tc.check(load(t, tc.fixture))
			if got := where(ps); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("problems at %v, want %v:\n%v", got, tc.want, ps)
			}
			for _, p := range ps {
				if !strings.Contains(p.Message, tc.message) {
					t.Errorf("%v: message lacks %q", p, tc.message)
				}
			}
		})
	}
}

func TestCheckMessages(t *testing.T) {
	tests := []struct {
		name    string
		check   Check
		fixture string
		want    []string // substrings that must each appear in some problem
	}{
		{"iam", CheckIAM, "bad-iam.yaml", []string{
			`wildcard action "*"`, `wildcard action "s3:*"`, `Resource "*" for "dynamodb:GetItem"`,
			"NotAction", `Resource "*" for "sqs:SendMessage"`,
		}},
		{"failure-destinations", CheckFailureDestinations, "bad-failure-destinations.yaml", []string{
			"no DeadLetterConfig.Arn", "no RetryPolicy", "EventInvokeConfig has no DestinationConfig.OnFailure",
			"invoked asynchronously by Rule", "kinesis mapping has no DestinationConfig.OnFailure",
		}},
		{"partition", CheckPartition, "bad-partition.yaml", []string{
			`Conditions.InChina`, `Properties.ManagedPolicyArns[0]: literal "arn:aws:"`,
			`Properties.SourceArn.Fn::Join[1][0]`, `Outputs.Url.Fn::Sub: literal "amazonaws.com"`,
		}},
		{"lifecycle", CheckQueryableLifecycle, "bad-lifecycle.yaml", []string{
			"rule Glacier moves raw/", "to GLACIER", "rule WholeBucketDeepArchive", "to DEEP_ARCHIVE", "Intelligent-Tiering Archive", "ARCHIVE_ACCESS",
		}},
		{"cost-alarm", CheckCostAlarm, "bad-cost-alarm.yaml", []string{
			"BillingAlarm: alarm on AWS/Billing", "topic Topic has no policy letting budgets.amazonaws.com sns:Publish",
			"key Key of topic Topic does not allow budgets.amazonaws.com kms:generatedatakey",
			"does not allow budgets.amazonaws.com kms:decrypt", "SilentBudget: budget notifies no subscriber",
		}},
		{"default-route", CheckDefaultRoute, "bad-default-route.yaml", []string{
			"/$default lacks isDefaultRoute: true", "get /$default: the $default route takes every method",
			"post /orders: isDefaultRoute is honoured only on x-amazon-apigateway-any-method",
		}},
		{"lambda-retry", CheckLambdaRetry, "bad-statemachine.yaml", []string{
			"no retrier for Lambda.ClientExecutionTimeoutException", "no retrier for Lambda.AWSLambdaException",
			"no retrier for Lambda.SdkClientException", "no retrier for Lambda.TooManyRequestsException",
			`"Exception" is an emulator's name`,
		}},
		{"execution-timeout", CheckExecutionTimeout, "bad-statemachine.yaml", []string{
			"Untimed: the definition has no TimeoutSeconds", "TimeoutSeconds 100 is under the 734 s",
			"state Callback handles States.HeartbeatTimeout but has no HeartbeatSeconds",
		}},
		{"rule-input", CheckRuleInput, "bad-statemachine.yaml", []string{
			"reads $.detail.data.orderId, but the EventPattern does not require it",
			"reads $.detail.metadata.kind, but",
		}},
		{"definition-substitutions", CheckDefinitionSubstitutions, "bad-substitutions.yaml", []string{
			"${TableName} in the definition has no DefinitionSubstitutions entry",
			"key QueueUrl is not used", "${Missing}", "DefinitionUri: open",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps := tc.check(load(t, tc.fixture))
			var all []string
			for _, p := range ps {
				all = append(all, p.String())
			}
			joined := strings.Join(all, "\n")
			for _, w := range tc.want {
				if !strings.Contains(joined, w) {
					t.Errorf("no problem mentions %q; got:\n%s", w, joined)
				}
			}
		})
	}
}

func TestRunGoodFixture(t *testing.T) {
	if ps := Run(load(t, "good.yaml"), Checks(filepath.Join("testdata", "make"))); len(ps) != 0 {
		t.Fatalf("good fixture: %v", ps)
	}
}

func TestMakeTargets(t *testing.T) {
	tests := []struct {
		name string
		dir  string
		want map[string]bool
	}{
		{"Makefile and mk/*.mk", filepath.Join("testdata", "make"), map[string]bool{"build-WorkerFunction": true, "build-StreamFunction": true}},
		{"no Makefile", filepath.Join("testdata", "nowhere"), map[string]bool{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MakeTargets(tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCheckBusPolicy(t *testing.T) {
	if ps := CheckBusPolicy(load(t, "good.yaml")); len(ps) != 0 {
		t.Fatalf("good fixture: %v", ps)
	}
	ps := CheckBusPolicy(load(t, "bad-bus-policy.yaml"))
	var all []string
	for _, p := range ps {
		all = append(all, p.String())
	}
	joined := strings.Join(all, "\n")
	for _, want := range []string{
		`AnyonePublishes: Statement: grants events:PutEvents ("events:PutEvents")`,
		`AnyonePublishes: Statement: Resource {"Fn::GetAtt":["Bus","Arn"]} is not the rules of a bus`,
		"AnyonePublishes: Statement: no events:creatorAccount",
		"AnyonePublishes: Statement: granted to other accounts unconditionally",
		`ConsumersDoAnything: Statement: grants events:PutEvents ("events:Put*")`,
		"ConsumersDoAnything: Statement: PutRule without a StringEquals events:source",
		"ConsumersDoAnything: Statement: Condition HasConsumers is true with every parameter at its default",
		`LegacyPermission: Statement: grants events:PutEvents ("events:PutEvents")`,
		"LegacyPermission: Statement: granted to other accounts unconditionally",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("no problem %q; got:\n%s", want, joined)
		}
	}
}

func TestConditionValue(t *testing.T) {
	tpl, err := Parse([]byte(`
Parameters:
  Ids: {Type: CommaDelimitedList, Default: ''}
  Org: {Type: String, Default: ''}
  Stage: {Type: String}
Conditions:
  HasIds: !Not [!Equals [!Join ['', !Ref Ids], '']]
  HasOrg: !Not [!Equals [!Ref Org, '']]
  Any: !Or [!Condition HasIds, !Condition HasOrg]
  Both: !And [!Condition HasIds, !Condition HasOrg]
  FirstIsOne: !Equals [!Select [0, !Ref Ids], '1']
  IsProd: !Equals [!Ref Stage, prod]
  Loop: !Not [!Condition Loop]
  Region: !Equals [!Ref AWS::Region, us-east-1]
`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		cond   string
		params map[string]string
		want   bool
		err    string
	}{
		{"HasIds", nil, false, ""},
		{"HasIds", map[string]string{"Ids": "1,2"}, true, ""},
		{"Any", map[string]string{"Org": "o-1"}, true, ""},
		{"Both", map[string]string{"Org": "o-1"}, false, ""},
		{"Both", map[string]string{"Org": "o-1", "Ids": "1"}, true, ""},
		{"FirstIsOne", map[string]string{"Ids": "1, 2"}, true, ""},
		{"IsProd", nil, false, "no value and no default"},
		{"IsProd", map[string]string{"Stage": "prod"}, true, ""},
		{"Loop", nil, false, "refers to itself"},
		{"Region", nil, false, "not a parameter"},
		{"Missing", nil, false, "no condition Missing"},
	}
	for _, tc := range tests {
		got, err := tpl.ConditionValue(tc.cond, tc.params)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %v: err %v, want %q", tc.cond, tc.params, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s %v = %v, %v; want %v", tc.cond, tc.params, got, err, tc.want)
		}
	}
}
