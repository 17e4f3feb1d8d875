package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientfeatures "k8s.io/client-go/features"
	clientfeaturestesting "k8s.io/client-go/features/testing"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	core "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2/ktesting"
	"sigs.k8s.io/yaml"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"

	"github.com/samplecrd/network-controller/pkg/leadership"
)

// The shipped RBAC: a ClusterRole for what the controller does in every
// namespace, a Role for leader election in its own, both bound to the
// Deployment's ServiceAccount.
const (
	clusterRoleFile        = "artifacts/deploy/cluster-role.yaml"
	leaderElectionRoleFile = "artifacts/deploy/leader-election-role.yaml"
	serviceAccountFile     = "artifacts/deploy/serviceaccount.yaml"
)

// permission is one thing RBAC decides: a verb on a resource (with its
// subresource after a "/", as a role names it) of an API group, and the
// object's name: that of a get, or of a list or watch selecting it by
// metadata.name, which a rule restricted by resourceNames can grant.
type permission struct {
	group, resource, verb, name string
}

func (p permission) String() string {
	group := p.group
	if group == "" {
		group = "core"
	}
	s := fmt.Sprintf("%s %s (group %s)", p.verb, p.resource, group)
	if p.name != "" {
		s += " named " + p.name
	}
	return s
}

// TestShippedRolesGrantExactlyWhatTheControllerUses derives the requests
// the controller makes from the code itself, by running it against fake
// clients that record every request, and compares them with the shipped
// roles: every permission used must be granted (or the controller, run as
// its ServiceAccount, is refused), and every permission granted must be
// used (least privilege). What it runs:
//
//   - every row of the sync table (controller_test.go), with the
//     controller's own Event recorder: creating, reading, repairing and
//     removing attachments, writing status, recording Events;
//   - a repeated Event, which the recorder writes as a patch of the first;
//   - the informers the controller reads its caches from;
//   - leader election, which must be granted by the Role in the
//     controller's namespace, not cluster-wide.
//
// API discovery (waiting for the attachment API) asks nothing of these
// roles: the built-in system:discovery role grants it to every
// authenticated user. A status write goes through the REST client in the
// binary and through UpdateStatus here; both are a PUT of the status
// subresource, RBAC's update.
func TestShippedRolesGrantExactlyWhatTheControllerUses(t *testing.T) {
	used := usedBySyncsAndInformers(t)
	usedForLease := usedByLeaderElection(t)
	if len(used) == 0 || len(usedForLease) == 0 {
		t.Fatalf("recorded no requests (syncs and informers: %v, leader election: %v): the fakes no longer record them", used, usedForLease)
	}

	account := serviceAccountName(t)
	clusterRole, clusterBinding := readRole[rbacv1.ClusterRole, rbacv1.ClusterRoleBinding](t, clusterRoleFile)
	role, binding := readRole[rbacv1.Role, rbacv1.RoleBinding](t, leaderElectionRoleFile)
	checkBinding(t, clusterRoleFile, clusterBinding.RoleRef, clusterBinding.Subjects, "ClusterRole", clusterRole.Name, account)
	checkBinding(t, leaderElectionRoleFile, binding.RoleRef, binding.Subjects, "Role", role.Name, account)

	compareGrants(t, clusterRoleFile, used, granted(t, clusterRoleFile, clusterRole.Rules))
	compareGrants(t, leaderElectionRoleFile, usedForLease, granted(t, leaderElectionRoleFile, role.Rules))
}

// compareGrants fails for each permission used but not granted, and each
// granted but not used. A request for a named object is granted by a rule
// restricted to that name, or by one for every name.
func compareGrants(t *testing.T, file string, used, grants sets.Set[permission]) {
	t.Helper()
	used = sets.New(slices.Collect(func(yield func(permission) bool) {
		for p := range used {
			if !grants.Has(p) {
				p.name = ""
			}
			if !yield(p) {
				return
			}
		}
	})...)
	missing, unused := used.Difference(grants), grants.Difference(used)
	for _, p := range sortedPermissions(missing) {
		t.Errorf("%s does not grant %s, which the controller uses: run as its ServiceAccount, it is refused", file, p)
	}
	for _, p := range sortedPermissions(unused) {
		t.Errorf("%s grants %s, which the controller never uses: remove it (least privilege)", file, p)
	}
	if missing.Len() > 0 || unused.Len() > 0 {
		t.Logf("the controller uses, of what %s should grant:\n  %s", file, strings.Join(stringsOf(sortedPermissions(used)), "\n  "))
	}
}

// usedBySyncsAndInformers runs every row of the sync table, a repeated
// Event and the informers, and returns the permissions their requests need.
func usedBySyncsAndInformers(t *testing.T) sets.Set[permission] {
	t.Helper()
	used := sets.New[permission]()
	for _, tc := range syncHandlerCases(t) {
		_, ctx := ktesting.NewTestContext(t)
		f := newFixture(t, ctx, tc.objects)
		// The fixture swaps in a fake recorder; these syncs write Events
		// with the controller's own, as the binary does.
		f.controller.recorder = f.events
		if _, err := f.controller.syncHandler(ctx, cache.MetaObjectToName(tc.key)); err != nil {
			t.Fatalf("%s: sync failed: %v", tc.name, err)
		}
		f.controller.events.Flush(ctx)
		used.Insert(requested(f)...)
	}

	_, ctx := ktesting.NewTestContext(t)
	blue := newNetwork("default", "blue", "198.18.0.0/24", "198.18.0.1", 0)
	f := newFixture(t, ctx, fixtureObjects{networks: []*samplecrdv1.Network{blue}})
	// The same Event twice: the recorder counts the repeat on the first.
	for range 2 {
		f.events.Event(blue, corev1.EventTypeWarning, samplecrdv1.ReasonInvalidSpec, "a repeated Event")
	}
	f.controller.events.Flush(ctx)

	// Informers list, then watch; with client-go's WatchListClient on they
	// first try a watch that streams the list, and fall back to a list where
	// the server (or a fake: the attachment clientset's would never answer)
	// does not stream. Both need list and watch granted.
	clientfeaturestesting.SetFeatureDuringTest(t, clientfeatures.WatchListClient, false)
	informersCtx, stop := context.WithCancel(ctx)
	defer stop()
	for _, factory := range f.factories {
		factory.Start(informersCtx.Done())
	}
	for _, factory := range f.factories {
		for informer, ok := range factory.WaitForCacheSync(informersCtx.Done()) {
			if !ok {
				t.Fatalf("informer %v did not sync", informer)
			}
		}
	}
	// The informers' watches are started once their lists are in.
	waitFor(t, "every informer to watch", func() bool {
		watched := 0
		for _, p := range requested(f) {
			if p.verb == "watch" {
				watched++
			}
		}
		return watched >= len(f.factories)
	})
	used.Insert(requested(f)...)
	return used
}

// usedByLeaderElection takes, holds and releases a Lease as the binary
// does with --leader-elect, and returns the permissions its requests need.
func usedByLeaderElection(t *testing.T) sets.Set[permission] {
	t.Helper()
	_, ctx := ktesting.NewTestContext(t)
	client := k8sfake.NewClientset()
	cfg := leadership.Config{
		LeaseDuration: 3 * time.Second,
		RenewDeadline: 2 * time.Second,
		RetryPeriod:   100 * time.Millisecond,
		Name:          controllerAgentName,
		Namespace:     "network-controller",
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Lead long enough to renew the Lease at least once, then stop, which
	// releases it.
	err := leadership.Run(ctx, cfg, client, leadership.NewHealth(), func(ctx, lost context.Context) error {
		select {
		case <-time.After(3 * cfg.RetryPeriod):
			return nil
		case <-lost.Done():
			return context.Cause(lost)
		}
	})
	if err != nil {
		t.Fatalf("leader election: %v", err)
	}
	return sets.New(permissionsOf(client.Actions())...)
}

// requested returns the permissions needed by the requests the fixture's
// clients have recorded so far.
func requested(f *fixture) []permission {
	var out []permission
	for _, actions := range [][]core.Action{f.kubeclient.Actions(), f.client.Actions(), f.nadclient.Actions(), f.metadataclient.Actions()} {
		out = append(out, permissionsOf(actions)...)
	}
	return out
}

// permissionsOf returns the permission each action needs.
func permissionsOf(actions []core.Action) []permission {
	var out []permission
	for _, a := range actions {
		resource := a.GetResource().Resource
		if a.GetSubresource() != "" {
			resource += "/" + a.GetSubresource()
		}
		out = append(out, permission{group: a.GetResource().Group, resource: resource, verb: a.GetVerb(), name: nameOf(a)})
	}
	return out
}

// nameOf returns the name of the object a request is for: a get's, or
// that a list or watch selects with metadata.name; "" for others.
func nameOf(a core.Action) string {
	switch a := a.(type) {
	case core.GetAction:
		return a.GetName()
	case core.ListAction:
		name, _ := a.GetListRestrictions().Fields.RequiresExactMatch("metadata.name")
		return name
	case core.WatchAction:
		name, _ := a.GetWatchRestrictions().Fields.RequiresExactMatch("metadata.name")
		return name
	}
	return ""
}

// granted returns what rules grant, a permission per name where a rule
// restricts resourceNames. A least-privilege role names every group,
// resource and verb: a wildcard or a non-resource URL fails the test
// rather than be misread.
func granted(t *testing.T, file string, rules []rbacv1.PolicyRule) sets.Set[permission] {
	t.Helper()
	out := sets.New[permission]()
	for i, r := range rules {
		if len(r.NonResourceURLs) > 0 {
			t.Errorf("%s rule %d grants nonResourceURLs, which this test does not check", file, i)
		}
		names := r.ResourceNames
		if len(names) == 0 {
			names = []string{""}
		}
		for _, group := range r.APIGroups {
			for _, resource := range r.Resources {
				for _, verb := range r.Verbs {
					if group == rbacv1.APIGroupAll || resource == rbacv1.ResourceAll || verb == rbacv1.VerbAll {
						t.Errorf("%s rule %d grants a wildcard", file, i)
					}
					for _, name := range names {
						out.Insert(permission{group: group, resource: resource, verb: verb, name: name})
					}
				}
			}
		}
	}
	return out
}

// readRole reads a role and its binding, the two documents of file.
func readRole[R, B any](t *testing.T, file string) (R, B) {
	t.Helper()
	var role R
	var binding B
	docs := yamlDocuments(t, file)
	if len(docs) != 2 {
		t.Fatalf("%s: %d documents, want a role and its binding", file, len(docs))
	}
	if err := yaml.UnmarshalStrict(docs[0], &role); err != nil {
		t.Fatalf("%s, first document: %v", file, err)
	}
	if err := yaml.UnmarshalStrict(docs[1], &binding); err != nil {
		t.Fatalf("%s, second document: %v", file, err)
	}
	return role, binding
}

// yamlDocuments splits a YAML file into its documents.
func yamlDocuments(t *testing.T, file string) [][]byte {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(raw)))
	var docs [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(bytes.TrimSpace(doc)) > 0 {
			docs = append(docs, doc)
		}
	}
}

// serviceAccountName is the name of the Deployment's ServiceAccount.
func serviceAccountName(t *testing.T) string {
	t.Helper()
	var account corev1.ServiceAccount
	docs := yamlDocuments(t, serviceAccountFile)
	if len(docs) != 1 {
		t.Fatalf("%s: %d documents, want 1", serviceAccountFile, len(docs))
	}
	if err := yaml.UnmarshalStrict(docs[0], &account); err != nil || account.Name == "" {
		t.Fatalf("%s: no ServiceAccount name (%v)", serviceAccountFile, err)
	}
	return account.Name
}

// checkBinding fails unless a binding gives the role of its file to the
// ServiceAccount and to nobody else.
func checkBinding(t *testing.T, file string, ref rbacv1.RoleRef, subjects []rbacv1.Subject, kind, role, account string) {
	t.Helper()
	if ref.Kind != kind || ref.Name != role {
		t.Errorf("%s: the binding refers to %s %q, want %s %q", file, ref.Kind, ref.Name, kind, role)
	}
	if len(subjects) != 1 || subjects[0].Kind != rbacv1.ServiceAccountKind || subjects[0].Name != account {
		t.Errorf("%s: the binding's subjects are %v, want the ServiceAccount %s alone", file, subjects, account)
	}
}

func sortedPermissions(s sets.Set[permission]) []permission {
	out := s.UnsortedList()
	slices.SortFunc(out, func(a, b permission) int { return strings.Compare(a.String(), b.String()) })
	return out
}

func stringsOf(ps []permission) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// waitFor polls cond every 10 ms for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
