// Package admin implements the HTTP server each process runs on its own
// admin port for operators and orchestrators:
//
//   - /healthz answers 200 "ok" while the process runs (liveness);
//   - /readyz answers 200 when every registered readiness check passes, and
//     503 listing the failing checks with their reasons otherwise;
//   - /metrics exposes the process's own Prometheus registry (never the
//     global default one) in the Prometheus text format;
//   - further paths (/routez, /connz, ...) serve JSON snapshots that a method
//     of the process builds, so tests can call the method and check the same
//     data the endpoint shows.
package admin
