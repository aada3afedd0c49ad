//go:build !linux

package redistest

import "os/exec"

// dieWithParent does nothing where the kernel cannot tie a child's life
// to its parent's: a crashed test may leave its server running.
func dieWithParent(*exec.Cmd) {}
