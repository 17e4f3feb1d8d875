package main

// Integration tests of tenancy against the real API server: the shipped
// ValidatingAdmissionPolicy and the controller's own check, driven by the
// one table in pkg/tenancy/tenancytest.

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	clientset "github.com/samplecrd/network-controller/pkg/generated/clientset/versioned"
	"github.com/samplecrd/network-controller/pkg/tenancy"
	"github.com/samplecrd/network-controller/pkg/tenancy/tenancytest"
)

// admissionPolicyFile is the policy (and its binding) installed with the
// CRDs.
const admissionPolicyFile = "artifacts/examples/admission-policy.yaml"

// testAllowance is what the integration tests' namespaces may use unless a
// test says otherwise: everything, so tests of other behaviour are not
// refused by the secure default.
const testAllowance = "0.0.0.0/0, ::/0"

// installAdmissionPolicy creates the shipped policy and binding and waits
// until the API server enforces them.
func installAdmissionPolicy(cfg *rest.Config) error {
	if err := createPolicies(cfg, admissionPolicyFile); err != nil {
		return err
	}
	return waitForPolicy(cfg)
}

// createPolicies creates the admission policies and bindings of file.
func createPolicies(cfg *rest.Config, file string) error {
	raw, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	admission := kubernetes.NewForConfigOrDie(cfg).AdmissionregistrationV1()
	ctx := context.Background()
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			return err
		}
		switch meta.Kind {
		case "ValidatingAdmissionPolicy":
			var p admissionv1.ValidatingAdmissionPolicy
			if err := yaml.UnmarshalStrict([]byte(doc), &p); err != nil {
				return err
			}
			_, err = admission.ValidatingAdmissionPolicies().Create(ctx, &p, metav1.CreateOptions{})
		case "ValidatingAdmissionPolicyBinding":
			var b admissionv1.ValidatingAdmissionPolicyBinding
			if err := yaml.UnmarshalStrict([]byte(doc), &b); err != nil {
				return err
			}
			_, err = admission.ValidatingAdmissionPolicyBindings().Create(ctx, &b, metav1.CreateOptions{})
		case "MutatingAdmissionPolicy":
			var p admissionv1.MutatingAdmissionPolicy
			if err := yaml.UnmarshalStrict([]byte(doc), &p); err != nil {
				return err
			}
			_, err = admission.MutatingAdmissionPolicies().Create(ctx, &p, metav1.CreateOptions{})
		case "MutatingAdmissionPolicyBinding":
			var b admissionv1.MutatingAdmissionPolicyBinding
			if err := yaml.UnmarshalStrict([]byte(doc), &b); err != nil {
				return err
			}
			_, err = admission.MutatingAdmissionPolicyBindings().Create(ctx, &b, metav1.CreateOptions{})
		default:
			return fmt.Errorf("%s: unexpected kind %q", file, meta.Kind)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// waitForPolicy waits until a Network in a namespace without an allowance
// is refused: policies take effect a moment after they are created, and
// after the API server starts.
func waitForPolicy(cfg *rest.Config) error {
	kube := kubernetes.NewForConfigOrDie(cfg)
	ctx := context.Background()
	ns := "policy-probe"
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	networks := clientset.NewForConfigOrDie(cfg)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		_, err := networks.SamplecrdV1().Networks(ns).Create(ctx, &samplecrdv1.Network{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-"},
			Spec:       samplecrdv1.NetworkSpec{CIDR: "198.18.0.0/24", Gateway: "198.18.0.1"},
		}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if apierrors.IsForbidden(err) {
			return nil
		}
	}
	return fmt.Errorf("the admission policy in %s is not enforced after 30 s", admissionPolicyFile)
}

// TestIntegrationAdmissionPolicyAgreesWithTheGoCheck runs the shared table
// against the API server: a Network the Go check permits is admitted, one
// it refuses is refused (403) with a message naming the namespace and who
// can change its allowance.
func TestIntegrationAdmissionPolicyAgreesWithTheGoCheck(t *testing.T) {
	e := newEnv(t)
	for i, tc := range tenancytest.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			ns := fmt.Sprintf("%s-%d", e.namespace[:min(len(e.namespace), 50)], i)
			namespace := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}
			if tc.Annotated {
				namespace.Annotations = map[string]string{tenancy.AllowedCIDRsAnnotation: tc.Allowance}
			}
			if _, err := e.kube.CoreV1().Namespaces().Create(e.ctx, namespace, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			gateway := gatewayOf(t, tc.CIDR)
			_, err := e.networks.SamplecrdV1().Networks(ns).Create(e.ctx, &samplecrdv1.Network{
				ObjectMeta: metav1.ObjectMeta{Name: "net"},
				Spec:       samplecrdv1.NetworkSpec{CIDR: tc.CIDR, Gateway: gateway},
			}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
			if tc.Permitted {
				if err != nil {
					t.Fatalf("the API server refused a Network the Go check permits: %v", err)
				}
				return
			}
			if !apierrors.IsForbidden(err) {
				t.Fatalf("want 403 Forbidden, got %v", err)
			}
			if !strings.Contains(err.Error(), "namespace "+ns) || !strings.Contains(err.Error(), "administrator") {
				t.Errorf("refusal %q does not name the namespace and who can change it", err)
			}
		})
	}
}

// gatewayOf returns the first host address of cidr, a valid gateway.
func gatewayOf(t *testing.T, cidr string) string {
	t.Helper()
	return netip.MustParsePrefix(cidr).Addr().Next().String()
}
