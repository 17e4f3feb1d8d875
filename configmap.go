package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	samplecrdv1 "github.com/samplecrd/network-controller/pkg/apis/samplecrd/v1"
	"github.com/samplecrd/network-controller/pkg/cni"
)

// errNotControlled means the ConfigMap with the Network's name exists but is
// not controlled by that Network, so the controller must not touch it.
var errNotControlled = errors.New("ConfigMap is not controlled by the Network")

// newConfigMap returns the ConfigMap that realises network: same name and
// namespace, the managed-by label that the ConfigMap informer selects on, a
// controller owner reference so the garbage collector deletes it with the
// Network, and the rendered CNI configuration list.
func newConfigMap(network *samplecrdv1.Network, subnet netip.Prefix, gateway netip.Addr) (*corev1.ConfigMap, error) {
	conflist, err := cni.Render(network.Namespace, network.Name, subnet, gateway)
	if err != nil {
		return nil, err
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:      network.Name,
			Namespace: network.Namespace,
			Labels:    map[string]string{managedByLabel: managedByValue},
			OwnerReferences: []metav1.OwnerReference{
				*metav1.NewControllerRef(network, samplecrdv1.SchemeGroupVersion.WithKind("Network")),
			},
		},
		Data: map[string]string{cni.ConfigKey: string(conflist)},
	}, nil
}

// ensureConfigMap makes the Network's ConfigMap look like desired: it
// creates a missing one and updates a drifted one back. It returns
// errNotControlled, and changes nothing, when the ConfigMap belongs to
// someone else. It reports whether it wrote.
func (c *Controller) ensureConfigMap(ctx context.Context, network *samplecrdv1.Network, desired *corev1.ConfigMap) (bool, error) {
	logger := klog.FromContext(ctx)
	client := c.kubeclientset.CoreV1().ConfigMaps(desired.Namespace)

	cm, err := c.currentConfigMap(ctx, network, desired.Name)
	if apierrors.IsNotFound(err) {
		_, err = client.Create(ctx, desired, metav1.CreateOptions{FieldManager: controllerAgentName})
		if err == nil {
			logger.V(2).Info("Created ConfigMap", "configMap", klog.KObj(desired))
			return true, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return false, fmt.Errorf("creating ConfigMap %s: %w", klog.KObj(desired), err)
		}
		// Not in the cache but on the server: a ConfigMap without the
		// managed-by label, or a cache that lags. Look at the real one.
		cm, err = client.Get(ctx, desired.Name, metav1.GetOptions{})
	}
	if err != nil {
		return false, fmt.Errorf("getting ConfigMap %s: %w", klog.KObj(desired), err)
	}
	if !metav1.IsControlledBy(cm, network) {
		return false, errNotControlled
	}
	if !configMapDrifted(cm, desired) {
		return false, nil
	}

	updated := cm.DeepCopy()
	updated.Data = desired.Data
	updated.BinaryData = nil
	if updated.Labels == nil {
		updated.Labels = map[string]string{}
	}
	updated.Labels[managedByLabel] = managedByValue
	if _, err := client.Update(ctx, updated, metav1.UpdateOptions{FieldManager: controllerAgentName}); err != nil {
		return false, fmt.Errorf("updating ConfigMap %s: %w", klog.KObj(desired), err)
	}
	logger.V(2).Info("Repaired drifted ConfigMap", "configMap", klog.KObj(desired))
	return true, nil
}

// currentConfigMap returns the Network's ConfigMap from the cache. When the
// last sync found a foreign ConfigMap, which the label-filtered cache cannot
// see, it asks the API server instead: a read, rather than a create that
// would fail again.
func (c *Controller) currentConfigMap(ctx context.Context, network *samplecrdv1.Network, name string) (*corev1.ConfigMap, error) {
	cm, err := c.configMapsLister.ConfigMaps(network.Namespace).Get(name)
	if !apierrors.IsNotFound(err) || !inConfigMapConflict(network) {
		return cm, err
	}
	return c.kubeclientset.CoreV1().ConfigMaps(network.Namespace).Get(ctx, name, metav1.GetOptions{})
}

// inConfigMapConflict reports whether the Network's status says a foreign
// ConfigMap holds its name.
func inConfigMapConflict(network *samplecrdv1.Network) bool {
	ready := meta.FindStatusCondition(network.Status.Conditions, samplecrdv1.ConditionReady)
	return ready != nil && ready.Reason == samplecrdv1.ReasonConfigMapConflict
}

// configMapDrifted reports whether a controlled ConfigMap differs from what
// the controller wants in the parts it owns: the data, which it owns
// entirely, and the managed-by label. Other labels and annotations are left
// to whoever set them.
func configMapDrifted(current, desired *corev1.ConfigMap) bool {
	return !maps.Equal(current.Data, desired.Data) ||
		len(current.BinaryData) != 0 ||
		current.Labels[managedByLabel] != managedByValue
}

// selectManagedConfigMaps restricts the ConfigMap informer to the ConfigMaps
// this controller manages, so its cache does not hold every ConfigMap in the
// cluster.
func selectManagedConfigMaps(options *metav1.ListOptions) {
	options.LabelSelector = managedByLabel + "=" + managedByValue
}
