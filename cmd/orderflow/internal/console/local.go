package console

import (
	"github.com/orderflow/orderflow/cmd/orderflow/internal/stack"
	tpl "github.com/orderflow/orderflow/tools/template"
)

// ForLocalStack returns the options of a console for the running local stack s of
// template t: its resource names, the emulator, its HTTP API for load runs, its injected
// faults, and actions allowed (nothing there is anyone else's).
func ForLocalStack(s *stack.Stack, t *tpl.Template, stage string) Options {
	names := map[string]string{}
	for _, m := range []map[string]string{s.Tables, s.Queues, s.Functions} {
		for id, n := range m {
			names[id] = n
		}
	}
	return Options{Template: t, Names: names, LakeBucket: s.Bucket, StateMachineARN: s.StateMachineARN,
		AWS: s.Config, Stage: stage, API: s.HTTPURL, AllowActions: true, Faults: s.Faults, Title: "local " + stage}
}
