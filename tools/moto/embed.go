// Package moto ships the Python shim that tools/emulator runs in place of
// moto_server. The shim lives here, next to the other tooling, and is embedded
// so that the emulator works from any working directory.
package moto

import _ "embed"

// ServerShim is the source of moto_server_shim.py: moto_server's CLI with
// orderflow's fixes for known moto bugs (see the file's header for why each
// fix exists and when to delete it).
//
//go:embed moto_server_shim.py
var ServerShim []byte

// ExitMotoMissing is the shim's exit status when moto is not installed.
const ExitMotoMissing = 3
