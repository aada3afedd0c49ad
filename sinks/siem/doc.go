// Package siem forwards alerts to SIEM and SOAR systems: it formats them
// (JSON, ECS, OCSF, CEF, LEEF), masks configured fields, routes each alert
// to the sinks whose filters take it, and delivers with batching, retries
// with backoff and jitter, a circuit breaker, and an on-disk spool that
// survives outages and restarts, so that no alert is dropped silently.
//
// A process wires it in three steps (STYLE.md §10):
//
//	var cfgs []siem.Config                  // the `sinks:` list, decoded with KnownFields
//	if errs := siem.ValidateAll(cfgs); len(errs) > 0 { ... }   // every error, with its key path
//	metrics, _ := siem.NewMetrics(prometheus.DefaultRegisterer)
//	router, err := siem.Build(cfgs, siem.Options{Logger: log, Metrics: metrics, Version: version})
//	router.Start(ctx)                       // opens spools; undelivered alerts go first
//	router.Send(ctx, &a)                    // for each alert; blocks under back-pressure
//	router.Stop(shutdownCtx)                // sends or spools what is in flight
//
// Delivery is at least once: alert ids are deterministic, and the
// Elasticsearch sink, webhook signatures (webhook-id), TheHive (sourceRef)
// and PagerDuty (dedup_key) use them so that a retry does not make a second
// alert downstream.
package siem
