//go:build unix && !linux

package lambdahost

import "syscall"

func setParentDeathSignal(*syscall.SysProcAttr) {}
