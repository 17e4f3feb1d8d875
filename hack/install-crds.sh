#!/usr/bin/env bash
# Installs the CRDs the controller needs into the cluster kubectl talks to
# ($KUBECTL, default kubectl; it honours KUBECONFIG), and waits until they are
# served:
#   - networks.samplecrd.k8s.io, this project's API, applied (so updated);
#   - network-attachment-definitions.k8s.cni.cncf.io, what a Network becomes,
#     created only when the cluster lacks it. Clusters with Multus have their
#     own; it is never replaced or changed;
# and with them what governs who may use the API: the admission policy that
# enforces each namespace's allowed-cidrs (artifacts/examples/admission-policy.yaml),
# the policy that gives new Networks the controller's in-use protection
# finalizer (artifacts/examples/protection-policy.yaml)
# and the rules that let the built-in admin, edit and view roles handle
# Networks (artifacts/examples/user-roles.yaml).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
read -r -a kubectl <<<"${KUBECTL:-kubectl}"

nad_crd=network-attachment-definitions.k8s.cni.cncf.io
"${kubectl[@]}" apply -f artifacts/examples/crd.yaml
if "${kubectl[@]}" get crd "$nad_crd" -o name >/dev/null 2>&1; then
	echo "customresourcedefinition.apiextensions.k8s.io/$nad_crd already installed; left as it is"
else
	# create, not apply: if someone installs one meanwhile, theirs stays.
	out=$("${kubectl[@]}" create -f artifacts/examples/network-attachment-definition-crd.yaml 2>&1) ||
		grep -q AlreadyExists <<<"$out" || { echo "$out" >&2; exit 1; }
	echo "$out"
fi
"${kubectl[@]}" wait --for condition=Established --timeout=60s crd/networks.samplecrd.k8s.io "crd/$nad_crd"
"${kubectl[@]}" apply -f artifacts/examples/admission-policy.yaml -f artifacts/examples/protection-policy.yaml -f artifacts/examples/user-roles.yaml
# An established CRD is not yet one the admission policies can handle: until
# the API server has built the Network type for them, creating a Network
# fails with "Resource kind ... not found" (ServiceUnavailable). Wait, with
# a server-side dry run, until a Network can be created.
probe='{"apiVersion":"samplecrd.k8s.io/v1","kind":"Network","metadata":{"name":"install-probe","namespace":"default"},"spec":{"cidr":"198.18.0.0/24","gateway":"198.18.0.1"}}'
for _ in $(seq 1 300); do
	out=$("${kubectl[@]}" create --dry-run=server -f - <<<"$probe" 2>&1) && exit 0
	# Refused by the allowed-cidrs policy (default has no allowance): the
	# policies run, which is all this waits for.
	grep -q 'allowed-cidrs\|denied request\|Forbidden' <<<"$out" && exit 0
	sleep 0.1
done
echo "install-crds.sh: Networks still cannot be created after 30 s: $out" >&2
exit 1
