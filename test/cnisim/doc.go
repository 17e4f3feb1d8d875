// Package cnisim does what a container runtime does with a CNI
// configuration list, with the real reference plugins in real network
// namespaces, so that tests can show that what pkg/cni.Render produces gives
// pods a working secondary network.
//
// A Node is a network namespace that plays a Kubernetes node. The plugins
// run inside it, so the bridge, the host ends of the veths and the gateway
// address are made there and never in the machine's own namespace. A Pod is
// a network namespace with loopback up and a stand-in cluster network on
// eth0 (the ptp plugin with host-local, owning the default route in both
// families, as a node's primary CNI would set up before Multus adds
// secondary networks). Pod.Attach then runs a Network's configuration list
// on another interface through libcni, the library runtimes and Multus use.
//
// Everything a Node makes lives in namespaces whose names share one prefix
// and in one temporary directory, which holds host-local's allocations and
// libcni's result cache. The only change made to a configuration before the
// plugins see it is an injected ipam.dataDir, so that host-local does not
// write under /var/lib/cni. Node.Close removes it all; a detached watchdog
// process removes it too if the owner dies without Close (SIGKILL, go
// test's -timeout); Footprint.Leftovers checks that nothing is left and that
// the machine's own network namespace did not change.
//
// It needs root (CAP_SYS_ADMIN to create namespaces, CAP_NET_ADMIN in them)
// and the plugins that hack/cni/install.sh builds. NewForTest applies the
// project's rule for tests that need them: skip with the reason, or fail
// under CI=true.
package cnisim
