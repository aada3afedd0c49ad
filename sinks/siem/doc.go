// Package siem forwards alerts to SIEM and SOAR systems. It is the sink
// core: it routes each alert to the sinks whose filters take it, masks
// configured fields, formats the alert (package format), and delivers it
// through a transport (package transport and its kinds under transport/)
// with batching, retries with backoff and jitter, a circuit breaker, and a
// spool — on disk, optionally sealed, it survives restarts; in memory,
// outages only — so that no alert is dropped silently.
//
// A process wires it in three steps — validate, construct, start and stop:
//
//	import _ "github.com/cep-project/cep/sinks/siem/transport/all"
//
//	var cfgs []siem.Config                  // the `sinks:` list, decoded strictly
//	if errs := siem.ValidateAll(cfgs); len(errs) > 0 { ... }   // every error, with its key path
//	for _, w := range siem.Warnings(cfgs) { ... }              // plaintext secrets, credentials in URLs
//	metrics, _ := siem.NewMetrics(prometheus.DefaultRegisterer)
//	router, err := siem.Build(cfgs, siem.Options{Logger: log, Metrics: metrics, Version: version})
//	router.Start(ctx)                       // checks destinations, opens spools; undelivered alerts go first
//	router.Send(ctx, &a)                    // for each alert; blocks under back-pressure
//	router.Wait(ctx, router.Mark())         // when a checkpoint needs its alerts safe
//	err = router.Stop(shutdownCtx)          // a *StopError when alerts were lost
//
// A sink's `type:` names a registered transport kind, and its block of
// type-specific keys is decoded into that kind's configuration; a new
// transport is one package that calls transport.Register at init.
//
// Delivery is at least once: alert ids are deterministic, and the
// Elasticsearch sink, webhook signatures (webhook-id), TheHive (sourceRef)
// and PagerDuty (dedup_key) use them so that a retry does not make a second
// alert downstream.
package siem
