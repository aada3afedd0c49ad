//go:build !race

package event

// raceBuild: see poison_race.go.
const raceBuild = false
