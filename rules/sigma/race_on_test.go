//go:build race

package sigma

// raceSample keeps the corpus tests to seconds under the race detector,
// which slows CEL's parser and checker tenfold: every 10th file.
const raceSample = 10
