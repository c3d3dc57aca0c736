//go:build unix

package emulator

import (
	"errors"
	"syscall"
)

// sysProcAttr puts the server in its own process group, so that Stop reaches
// every process it may spawn, and (on Linux) has the kernel kill it if the Go
// process dies without calling Stop.
func sysProcAttr() *syscall.SysProcAttr {
	attr := &syscall.SysProcAttr{Setpgid: true}
	setParentDeathSignal(attr)
	return attr
}

func killGroup(pgid int) {
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// groupAlive reports whether a process of group pgid exists. EPERM means one
// exists that we may not signal.
func groupAlive(pgid int) bool {
	err := syscall.Kill(-pgid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
