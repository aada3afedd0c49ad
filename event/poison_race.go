//go:build race

package event

// raceBuild is whether the race detector is built in (see poison.go).
const raceBuild = true
