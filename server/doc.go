// Package server is cep's HTTP face: the admin API (rules, reload, recent
// alerts, key traces, readiness detail), HTTP ingest (a source the runtime
// reads like any other), Prometheus metrics over the runtime's statistics,
// and health and readiness. It reads the running service only through
// runtime.Control and the statistics the loop publishes, so nothing here
// races with detection.
package server
