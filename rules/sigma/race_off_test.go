//go:build !race

package sigma

// raceSample is 1 without the race detector: every file of the corpus.
const raceSample = 1
