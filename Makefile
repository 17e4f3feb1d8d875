# The README explains every target. `make run-local` and `make test` are all a
# newcomer needs; both work without a cluster, Docker or downloads beyond Go
# modules.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c

BIN := bin/network-controller
GO_PACKAGES := ./...

.PHONY: all
all: build

.PHONY: build
build: ## Build the controller binary into bin/.
	go build -o $(BIN) .

.PHONY: run-local
run-local: ## Start a local control plane, install the CRD and run the controller (Ctrl-C stops all).
	hack/run-local.sh

.PHONY: run
run: build install-crd ## Install the CRD into $KUBECONFIG's cluster and run the controller against it.
	$(BIN) --kubeconfig "$${KUBECONFIG:-$$HOME/.kube/config}"

.PHONY: k8s-binaries
k8s-binaries: ## Build (once) kube-apiserver, kube-controller-manager, kubectl, etcd, kubelet and kube-scheduler.
	hack/k8s/install.sh

.PHONY: cni-plugins
cni-plugins: ## Build (once) the CNI plugins bridge, host-local, loopback, macvlan, ptp and whereabouts.
	hack/cni/install.sh

.PHONY: test
test: test-unit test-cni test-images test-integration test-e2e test-node ## Unit, CNI, image, integration, end-to-end and real-node tests.

.PHONY: test-unit
test-unit: ## Unit tests, fuzz seed corpora included; no API server needed.
	go test -short -count=1 $(GO_PACKAGES)
	GOWORK=off go -C hack/plot test -count=1 ./...

.PHONY: test-cni
test-cni: ## Rendered Networks attached by the real CNI plugins in network namespaces (needs root).
	CNI_PLUGINS_DIR="$$(hack/cni/install.sh)" go test -count=1 ./test/cnisim/

.PHONY: test-images
test-images: ## hack/images.sh's images imported and run in a throwaway containerd; the pause program as PID 1 (needs root, containerd, runc, busybox-static).
	go test -count=1 -timeout 20m ./test/images/...

.PHONY: test-integration
test-integration: ## The controller in-process against a real kube-apiserver and etcd (envtest).
	KUBEBUILDER_ASSETS="$$(hack/k8s/install.sh)" go test -count=1 -run '^TestIntegration' .

.PHONY: test-e2e
test-e2e: ## The user's path with the real binaries: local control plane, controller binary, kubectl.
	KUBEBUILDER_ASSETS="$$(hack/k8s/install.sh)" CNI_PLUGINS_DIR="$$(hack/cni/install.sh)" go test -count=1 -timeout 15m -skip '^TestRealNode' ./test/e2e/

.PHONY: test-node
test-node: ## Pods started by a real node (kubelet, containerd, Multus; hack/node-up.sh) on Bridge and Macvlan Networks, the controller deployed from artifacts/deploy (needs root).
	KUBEBUILDER_ASSETS="$$(hack/k8s/install.sh)" CNI_PLUGINS_DIR="$$(hack/cni/install.sh)" go test -count=1 -timeout 15m -run '^TestRealNode' ./test/e2e/

# attach-demo reads the NetworkAttachmentDefinition NETWORK in NAMESPACE
# from KUBECONFIG's cluster: by default the local control plane's, that of
# make run-local.
NETWORK ?= example-network
NAMESPACE ?= default
# where whereabouts keeps its IPPools when NETWORK is a Macvlan Network
WHEREABOUTS_NAMESPACE ?= kube-system
KUBECONFIG ?= $(or $(LOCAL_DIR),$(CURDIR)/.local)/kubeconfig

.PHONY: attach-demo
attach-demo: ## Attach NETWORK (NAMESPACE, KUBECONFIG) to a simulated pod with the real plugins and show it (needs root).
	CNI_PLUGINS_DIR="$$(hack/cni/install.sh)" go run ./test/cnisim/attach-demo \
		--kubeconfig "$(KUBECONFIG)" --namespace "$(NAMESPACE)" --network "$(NETWORK)" \
		--whereabouts-namespace "$(WHEREABOUTS_NAMESPACE)"

.PHONY: verify
verify: ## Generated code up to date, gofmt clean, go vet clean.
	hack/verify-codegen.sh
	@bad=$$(gofmt -l $$(git ls-files '*.go')); if [[ -n "$$bad" ]]; then echo "gofmt needed: $$bad"; exit 1; fi
	go vet $(GO_PACKAGES)
	GOWORK=off go -C hack/plot vet ./...

.PHONY: update
update: ## Regenerate clients, deepcopy and the CRD from pkg/apis.
	hack/update-codegen.sh

.PHONY: fork-check
fork-check: ## Fork a copy of HEAD with hack/fork (FORK_ARGS) in a temporary directory and run make verify test-unit there.
	hack/fork-check.sh

.PHONY: clean
clean: ## Remove build output and the local control plane's and node's state.
	-hack/node-down.sh --purge
	-hack/local-down.sh --purge
	rm -rf bin

.PHONY: help
help: ## List the targets.
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 20

# --- Deploying to a real cluster ---------------------------------------------
# These use your own kubectl and KUBECONFIG. `make image` uses a container
# engine when one answers; without one it writes the same image as a tarball
# (make image-tar), which nothing but Go needs.
IMG ?= network-controller:latest
KUBECTL ?= kubectl

.PHONY: image
image: ## Build the controller's container image, tagged IMG (default network-controller:latest); without a container engine, make image-tar.
	@if command -v docker >/dev/null && docker info >/dev/null 2>&1; then \
		echo "docker build -t $(IMG) ."; docker build -t $(IMG) .; \
	else \
		echo "make image: no container engine answers (docker info), so writing $(IMAGE_TAR) instead (make image-tar)"; \
		$(MAKE) --no-print-directory image-tar; \
	fi

# The image without an engine: the Dockerfile's image (the static binary,
# USER 65532:65532) as a docker-archive. Load it with
# `ctr -n k8s.io images import`, `docker load -i`, `kind load image-archive`.
IMAGE_TAR := bin/images/controller.tar

.PHONY: image-tar
image-tar: ## Write the controller's image IMG to bin/images/controller.tar without a container engine (hack/images.sh).
	IMG="$(IMG)" hack/images.sh $(dir $(IMAGE_TAR)) controller

.PHONY: deploy
deploy: install-crd ## Install the CRDs, then the controller (artifacts/deploy, image IMG) into $KUBECONFIG's cluster.
	if [[ "$(IMG)" == network-controller:latest ]]; then \
		$(KUBECTL) apply -k artifacts/deploy; \
	else \
		mkdir -p bin/deploy; \
		printf '%s\n' \
			'# Written by make deploy: artifacts/deploy with IMG as the image.' \
			'resources:' \
			'- ../../artifacts/deploy' \
			'patches:' \
			'- target: {kind: Deployment, name: network-controller}' \
			'  patch: |-' \
			'    - op: replace' \
			'      path: /spec/template/spec/containers/0/image' \
			'      value: "$(IMG)"' >bin/deploy/kustomization.yaml; \
		$(KUBECTL) apply -k bin/deploy; \
	fi

.PHONY: install-crd
install-crd: ## Apply the Network CRD, create the NetworkAttachmentDefinition CRD if the cluster lacks it, wait for both.
	KUBECTL="$(KUBECTL)" hack/install-crds.sh

# How long make undeploy waits for the Network CRD, and every Network with
# it, to go before it gives up.
UNDEPLOY_TIMEOUT ?= 120s

# The Network CRD goes first, while the controller still runs: its deletion
# deletes every Network, and the controller, seeing its CRD marked for
# deletion, releases the in-use protection finalizer of those that pods
# still use. Only then does the controller go. Were the controller gone first,
# every Network in use would keep its finalizer and the CRD would never go
# (the README says how to release them by hand).
.PHONY: undeploy
undeploy: ## Remove the Network CRD (every Network with it; the running controller releases those in use), then the controller, from $KUBECONFIG's cluster. The NetworkAttachmentDefinition CRD stays: others may use it.
	$(KUBECTL) delete -f artifacts/examples/crd.yaml --ignore-not-found --wait=false
	@if ! $(KUBECTL) wait --for=delete -f artifacts/examples/crd.yaml --timeout=$(UNDEPLOY_TIMEOUT); then \
		echo "make undeploy: the Network CRD is still there after $(UNDEPLOY_TIMEOUT): Networks keep finalizers nobody removes (is the controller running?). See the README, In-use protection, then run make undeploy again." >&2; \
		exit 1; \
	fi
	$(KUBECTL) delete -k artifacts/deploy --ignore-not-found

.PHONY: bench
bench: ## Burst throughput vs the API server's ceiling, zero writes on restart, N Networks sharing a CIDR; writes BENCHMARKS.md.
	hack/bench.sh
