package emulator

import (
	"errors"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/orderflow/orderflow/pkg/awsconfig"
)

// Region is the region every emulator client uses.
const Region = "us-east-1"

// ErrNoEndpoint is returned by ConfigFromEnv when AWS_ENDPOINT_URL is unset.
var ErrNoEndpoint = errors.New("AWS_ENDPOINT_URL is not set")

// Config returns an aws.Config for the emulator at endpoint: static
// credentials test/test, region us-east-1 and BaseEndpoint set. It is built
// directly rather than with config.LoadDefaultConfig, which reads shared
// files and costs cold-start time. S3 clients reach the endpoint path-style
// on their own because its host is an IP address.
//
// The service clients made from one Config share an HTTP client, mended as
// awsconfig.NewHTTPClient says, that keeps up to 100 idle connections to the
// emulator (the SDK's default keeps 10 per host, too few for the local stack's
// pollers).
func Config(endpoint string) aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient: awsconfig.NewHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConnsPerHost = 100
		})),
	}
}

// ConfigFromEnv returns Config for the endpoint in AWS_ENDPOINT_URL, as the
// local stack sets it for the processes it runs. It returns ErrNoEndpoint
// when the variable is unset.
func ConfigFromEnv() (aws.Config, error) {
	endpoint := os.Getenv("AWS_ENDPOINT_URL")
	if endpoint == "" {
		return aws.Config{}, ErrNoEndpoint
	}
	return Config(endpoint), nil
}
