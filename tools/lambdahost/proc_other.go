//go:build !unix

package lambdahost

import (
	"os"
	"syscall"
)

// Without process groups a function is a single process: kill it alone.
func sysProcAttr() *syscall.SysProcAttr { return nil }

func killGroup(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}

func termGroup(pid int) { killGroup(pid) }

func groupAlive(int) bool { return false }
