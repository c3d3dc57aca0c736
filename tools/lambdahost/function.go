package lambdahost

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"
)

// Function is one Lambda function the Host runs: its bootstrap binary and its configuration,
// as the template declares them.
type Function struct {
	// Name is the function name, the FunctionName of the Invoke API.
	Name string
	// Path is the function's `bootstrap` executable. Its directory is LAMBDA_TASK_ROOT and
	// the process's working directory, as /var/task is on AWS.
	Path string
	// Env is the function's environment (the template's Environment.Variables) plus what
	// the caller passes through: credentials, AWS_ENDPOINT_URL, AWS_REGION. The Runtime API
	// variables (AWS_LAMBDA_*, _HANDLER, LAMBDA_TASK_ROOT) cannot be overridden.
	Env map[string]string
	// Timeout is the function timeout; default 3 s, SAM's default.
	Timeout time.Duration
	// MemoryMB is reported in AWS_LAMBDA_FUNCTION_MEMORY_SIZE (not enforced); default 128.
	MemoryMB int
	// Concurrency is the most processes of the function running at once; default 2.
	// Invokes beyond it wait for a free process (AWS would throttle them).
	Concurrency int
	// Stdout and Stderr receive the processes' output, each line prefixed with "[Name] ";
	// default os.Stdout and os.Stderr.
	Stdout, Stderr io.Writer
}

// Validate reports a Function that cannot run: no name, or no executable at Path.
func (f Function) Validate() error {
	if f.Name == "" {
		return errors.New("function has no name")
	}
	if f.Path == "" {
		return fmt.Errorf("function %s: no bootstrap path", f.Name)
	}
	st, err := os.Stat(f.Path)
	if err != nil {
		return fmt.Errorf("function %s: %w", f.Name, err)
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("function %s: %s is not an executable file", f.Name, f.Path)
	}
	if f.Timeout < 0 || f.MemoryMB < 0 || f.Concurrency < 0 {
		return fmt.Errorf("function %s: negative timeout, memory or concurrency", f.Name)
	}
	return nil
}

func (f *Function) setDefaults() {
	if f.Timeout == 0 {
		f.Timeout = 3 * time.Second
	}
	if f.MemoryMB == 0 {
		f.MemoryMB = 128
	}
	if f.Concurrency == 0 {
		f.Concurrency = 2
	}
	if f.Stdout == nil {
		f.Stdout = os.Stdout
	}
	if f.Stderr == nil {
		f.Stderr = os.Stderr
	}
	if abs, err := filepath.Abs(f.Path); err == nil {
		f.Path = abs
	}
}

// environ is the process environment: a minimal base, the function's Env, then the
// variables the Lambda service sets itself.
func (f *Function) environ(region, runtimeAPI, logStream string) []string {
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin/:/bin:/opt/bin"
	}
	m := map[string]string{
		"PATH":               path,
		"LANG":               "en_US.UTF-8",
		"TZ":                 ":UTC",
		"AWS_REGION":         region,
		"AWS_DEFAULT_REGION": region,
	}
	for k, v := range f.Env {
		m[k] = v
	}
	if r, ok := f.Env["AWS_REGION"]; ok {
		if _, ok := f.Env["AWS_DEFAULT_REGION"]; !ok {
			m["AWS_DEFAULT_REGION"] = r
		}
	}
	reserved := map[string]string{
		"AWS_LAMBDA_RUNTIME_API":          runtimeAPI,
		"AWS_LAMBDA_FUNCTION_NAME":        f.Name,
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(f.MemoryMB),
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + f.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME":      logStream,
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"_HANDLER":                        "bootstrap",
		"LAMBDA_TASK_ROOT":                filepath.Dir(f.Path),
		"LAMBDA_RUNTIME_DIR":              filepath.Dir(f.Path),
	}
	for k, v := range reserved {
		m[k] = v
	}
	env := make([]string, 0, len(m))
	for k, v := range m {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}
