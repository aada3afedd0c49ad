//go:build race

package event

// poisonReleased is whether a slab is poisoned when its last event is
// released (see slab.poison): in a build with the race detector, which
// every run of the tests in CI is, any reader of an event after its
// release then reads garbage, and its test fails.
const poisonReleased = true
