//go:build !race

package event

// poisonReleased: see poison_race.go.
const poisonReleased = false
