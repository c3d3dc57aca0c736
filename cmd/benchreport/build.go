package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/orderflow/orderflow/cmd/internal/capacity"
)

// Functions are orderflow's Lambda functions (functions/<name>), in the template's order.
var Functions = capacity.Functions

// helloPkg is the baseline aws-lambda-go function.
const helloPkg = "./bench/hello"

// lambdaFlags are the Makefile's LAMBDA_FLAGS.
var lambdaFlags = []string{"-trimpath", "-tags", "lambda.norpc", "-ldflags=-s -w"}

// buildCommand renders the build command of goos/goarch for the report.
func buildCommand(goos, goarch string) string {
	return fmt.Sprintf("CGO_ENABLED=0 GOOS=%s GOARCH=%s go build -trimpath -tags lambda.norpc -ldflags='-s -w'", goos, goarch)
}

// build builds pkg for goos/goarch the way the Makefile builds a Lambda into out.
func build(ctx context.Context, root, pkg, goos, goarch, out string) error {
	args := append([]string{"build"}, lambdaFlags...)
	args = append(args, "-o", out, pkg)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build %s for %s/%s: %w\n%s", pkg, goos, goarch, err, b)
	}
	return nil
}

// measureSizes builds every function and hello-world for linux/arm64 into dir.
func measureSizes(ctx context.Context, root, dir string) SizeSection {
	s := SizeSection{Command: buildCommand("linux", "arm64")}
	size := func(pkg, name string) (int64, error) {
		out := filepath.Join(dir, "arm64", name, "bootstrap")
		if err := build(ctx, root, pkg, "linux", "arm64", out); err != nil {
			return 0, err
		}
		fi, err := os.Stat(out)
		if err != nil {
			return 0, err
		}
		return fi.Size(), nil
	}
	var err error
	if s.Hello, err = size(helloPkg, "hello"); err != nil {
		return SizeSection{Skip: err.Error()}
	}
	for _, f := range Functions {
		n, err := size("./functions/"+f, f)
		if err != nil {
			return SizeSection{Skip: err.Error()}
		}
		s.Rows = append(s.Rows, SizeRow{Name: f, Bytes: n})
	}
	return s
}

// machine describes this machine.
func machine(ctx context.Context) Machine {
	m := Machine{NProc: runtime.NumCPU(), CPU: "unknown CPU", OS: runtime.GOOS + "/" + runtime.GOARCH}
	if b, err := exec.CommandContext(ctx, "nproc").Output(); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			m.NProc = n
		}
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	m.LoadBefore = loadAvg()
	m.GoVersion = runtime.Version()
	if b, err := exec.CommandContext(ctx, "go", "env", "GOVERSION").Output(); err == nil {
		m.GoVersion = strings.TrimSpace(string(b))
	}
	return m
}

// loadAvg returns the first three fields of /proc/loadavg, or "" where there is none.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
