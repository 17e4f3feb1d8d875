// Package metrics defines the controller's own Prometheus metrics and
// serves them, with those of client-go (REST client, workqueue, leader
// election) and of the Go runtime, from component-base's registry.
//
// The controller reports into it through a few functions (ObserveSync,
// SetLeader, DroppedEvents, RemovedOrphan) and one scrape-time gauge
// (RegisterNetworkCounts); it imports nothing of the controller's, so the
// controller's packages and this one never depend on each other both ways.
// Metrics stay aggregate: no series per Network, so 50k Networks do not
// mean 50k series.
package metrics
