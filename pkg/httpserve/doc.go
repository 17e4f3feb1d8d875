// Package httpserve serves a controller process's HTTP endpoints: the
// kubelet's probes (/healthz, /readyz) and whatever else the process hands
// it, such as /metrics. A server listens at once, so a busy port fails
// start-up instead of going unnoticed, and stops gracefully within
// ShutdownTimeout.
package httpserve
