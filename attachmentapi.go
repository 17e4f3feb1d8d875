package main

import (
	"context"
	"time"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/klog/v2"
)

// attachmentResource is the resource the controller writes; clusters with
// Multus serve it already.
const attachmentResource = "network-attachment-definitions"

// attachmentCRDName is the CustomResourceDefinition that serves it.
const attachmentCRDName = attachmentResource + "." + "k8s.cni.cncf.io"

// attachmentCRDHint says how to install that CRD where it is missing.
const attachmentCRDHint = "install Multus, or run: kubectl create -f artifacts/examples/network-attachment-definition-crd.yaml (from the network-controller repository)"

// defaultAPIPollPeriod is how often the controller looks again for a
// missing NetworkAttachmentDefinition API.
const defaultAPIPollPeriod = 5 * time.Second

// waitForAttachmentAPI returns once the API server serves
// NetworkAttachmentDefinitions, polling discovery every period, or when ctx
// ends (reporting false). Starting the attachment informer before that
// would fill the log with failed lists and watches; instead the controller
// says once what is missing and how to install it, and is not ready
// (/readyz fails, no worker runs, nothing is written) until it is there. It
// needs no restart when the CRD appears.
func waitForAttachmentAPI(ctx context.Context, client discovery.DiscoveryInterface, period time.Duration) bool {
	logger := klog.FromContext(ctx)
	warned := false
	err := wait.PollUntilContextCancel(ctx, period, true, func(context.Context) (bool, error) {
		resources, err := client.ServerResourcesForGroupVersion(nadv1.SchemeGroupVersion.String())
		if err == nil {
			for _, r := range resources.APIResources {
				if r.Name == attachmentResource {
					if warned {
						logger.Info("The NetworkAttachmentDefinition API is served now; starting", "crd", attachmentCRDName)
					}
					return true, nil
				}
			}
		}
		if !warned {
			logger.Error(err, "The API server does not serve NetworkAttachmentDefinitions: the controller waits, writes nothing and is not ready until it does",
				"crd", attachmentCRDName, "fix", attachmentCRDHint)
			warned = true
		}
		return false, nil
	})
	return err == nil
}
