//go:build lambda.norpc

package saga_test

import (
	"context"
	"reflect"

	"github.com/aws/aws-lambda-go/lambda"
)

// invoke runs payload through aws-lambda-go's handler (JSON in and out). Built with
// lambda.norpc, the library's exported error conversion is absent, so the errorType is
// computed the way its lambdaErrorResponse does: the Go type name, pointer elided.
func invoke(ctx context.Context, handler any, _ string, payload []byte) (out []byte, errorType, errorMessage string) {
	out, err := lambda.NewHandler(handler).Invoke(ctx, payload)
	if err != nil {
		t := reflect.TypeOf(err)
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		return nil, t.Name(), err.Error()
	}
	return out, "", ""
}
