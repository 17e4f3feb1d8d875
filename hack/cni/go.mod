// This separate module only pins the CNI reference plugins that
// hack/cni/install.sh builds for the tests in test/cnisim: bridge and
// host-local (what pkg/cni.Render's configuration uses), loopback (what a
// container runtime brings up in every pod) and ptp (the stand-in cluster
// network that owns each simulated pod's eth0 and default route). The
// plugins are binaries the tests execute, not code the controller links, so
// their dependency versions stay out of the project's go.mod. The versions
// are the ones the project's go.mod requires for its own use of the CNI
// libraries; move both together, then `go mod tidy` here.
module github.com/samplecrd/network-controller/hack/cni

go 1.26.0

tool (
	github.com/containernetworking/plugins/plugins/ipam/host-local
	github.com/containernetworking/plugins/plugins/main/bridge
	github.com/containernetworking/plugins/plugins/main/loopback
	github.com/containernetworking/plugins/plugins/main/ptp
)

require (
	github.com/alexflint/go-filemutex v1.3.0 // indirect
	github.com/containernetworking/cni v1.3.1 // indirect
	github.com/containernetworking/plugins v1.9.1 // indirect
	github.com/coreos/go-iptables v0.8.0 // indirect
	github.com/networkplumbing/go-nft v0.4.0 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	github.com/safchain/ethtool v0.6.2 // indirect
	github.com/vishvananda/netlink v1.3.1 // indirect
	github.com/vishvananda/netns v0.0.5 // indirect
	go.opentelemetry.io/otel v1.29.0 // indirect
	go.opentelemetry.io/otel/trace v1.29.0 // indirect
	golang.org/x/sys v0.35.0 // indirect
	sigs.k8s.io/knftables v0.0.18 // indirect
)
