// Package awsconfig builds an aws.Config straight from the Lambda environment.
//
// config.LoadDefaultConfig walks shared config files, SSO, IMDS and a dozen providers a
// Lambda function never uses; it adds about 4 ms to every cold start and 1.2 MB to every
// binary (see DESIGN.md, "Performance"). Lambda hands a function everything it needs in
// environment variables, so FromEnv reads only those.
package awsconfig

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// Environment variables FromEnv reads.
const (
	EnvRegion          = "AWS_REGION"
	EnvDefaultRegion   = "AWS_DEFAULT_REGION"
	EnvAccessKeyID     = "AWS_ACCESS_KEY_ID"
	EnvSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken    = "AWS_SESSION_TOKEN"
	EnvEndpointURL     = "AWS_ENDPOINT_URL"
	EnvMaxAttempts     = "AWS_MAX_ATTEMPTS"
)

// ErrNoRegion is returned by FromEnv when neither AWS_REGION nor AWS_DEFAULT_REGION is set.
var ErrNoRegion = errors.New("awsconfig: no region: set AWS_REGION (or AWS_DEFAULT_REGION)")

// ErrNoCredentials is returned by FromEnv when the access key id or secret key is missing.
var ErrNoCredentials = errors.New("awsconfig: no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY " +
	"(Lambda sets them; locally any non-empty values work against moto or LocalStack)")

// ErrInvalidEnv is wrapped by FromEnv when AWS_ENDPOINT_URL or AWS_MAX_ATTEMPTS cannot be parsed.
var ErrInvalidEnv = errors.New("awsconfig: invalid environment")

// FromEnv returns an aws.Config built from the process environment: region from
// AWS_REGION (falling back to AWS_DEFAULT_REGION), static credentials from
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, the optional endpoint
// override AWS_ENDPOINT_URL (moto, LocalStack) as BaseEndpoint, a shared HTTP client, and
// the SDK's standard retryer (jittered exponential backoff, 3 attempts unless
// AWS_MAX_ATTEMPTS says otherwise).
//
// It returns ErrNoRegion or ErrNoCredentials when those are missing (both joined when both
// are), and an error wrapping ErrInvalidEnv for a malformed endpoint or attempt count.
func FromEnv() (aws.Config, error) {
	var errs []error

	region := os.Getenv(EnvRegion)
	if region == "" {
		region = os.Getenv(EnvDefaultRegion)
	}
	if region == "" {
		errs = append(errs, ErrNoRegion)
	}

	keyID, secret := os.Getenv(EnvAccessKeyID), os.Getenv(EnvSecretAccessKey)
	if keyID == "" || secret == "" {
		errs = append(errs, ErrNoCredentials)
	}

	var endpoint *string
	if raw := os.Getenv(EnvEndpointURL); raw != "" {
		if err := checkEndpoint(raw); err != nil {
			errs = append(errs, err)
		} else {
			endpoint = aws.String(raw)
		}
	}

	maxAttempts := retry.DefaultMaxAttempts
	if raw := os.Getenv(EnvMaxAttempts); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 {
			errs = append(errs, fmt.Errorf("%w: %s=%q must be a whole number >= 1", ErrInvalidEnv, EnvMaxAttempts, raw))
		} else {
			maxAttempts = n
		}
	}

	if len(errs) > 0 {
		return aws.Config{}, errors.Join(errs...)
	}

	return aws.Config{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider(keyID, secret, os.Getenv(EnvSessionToken)),
		BaseEndpoint: endpoint,
		HTTPClient:   sharedHTTPClient(),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxAttempts = maxAttempts })
		},
	}, nil
}

// HTTPClient returns the process's one HTTP client for AWS, the one FromEnv's configs
// carry (see NewHTTPClient for what it mends).
func HTTPClient() aws.HTTPClient {
	return sharedHTTPClient()
}

func checkEndpoint(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: %s=%q must be an absolute http(s) URL", ErrInvalidEnv, EnvEndpointURL, raw)
	}
	return nil
}

// Getenv returns the value of the environment variable name, or def when it is unset or empty.
func Getenv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// MissingEnvError lists required environment variables that are unset or empty.
type MissingEnvError struct {
	Names []string
}

// Error implements error.
func (e *MissingEnvError) Error() string {
	return "missing required environment variables: " + strings.Join(e.Names, ", ")
}

// Require returns the values of the named environment variables, keyed by name. When any
// is unset or empty it returns a *MissingEnvError naming every missing one, so a
// misconfigured function reports all its gaps in one cold start rather than one per deploy.
func Require(names ...string) (map[string]string, error) {
	values := make(map[string]string, len(names))
	var missing []string
	for _, n := range names {
		v := os.Getenv(n)
		if v == "" {
			missing = append(missing, n)
			continue
		}
		values[n] = v
	}
	if len(missing) > 0 {
		return values, &MissingEnvError{Names: missing}
	}
	return values, nil
}
