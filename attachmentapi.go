package main

import (
	"errors"
	"time"

	nadv1 "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/apis/k8s.cni.cncf.io/v1"
	"github.com/samplecrd/network-controller/pkg/apiserved"
)

// The controller writes NetworkAttachmentDefinitions, whose CRD Multus
// installs, not this controller. While the API server does not serve them
// (at start-up, or because the CRD was deleted), the controller says so once
// in its log, is not ready (/readyz names the CRD and how to install it),
// and its workers write nothing; when they are served again, every Network
// is queued at once (requeueAll), since the attachments went with the CRD.
// pkg/apiserved follows the API for it.

// attachmentResource is the resource the controller writes.
const attachmentResource = "network-attachment-definitions"

// attachmentCRDName is the CustomResourceDefinition that serves it.
const attachmentCRDName = attachmentResource + "." + "k8s.cni.cncf.io"

// msgAttachmentAPIMissing is what the log says, once, when the API server
// does not serve NetworkAttachmentDefinitions, at start-up or later.
const msgAttachmentAPIMissing = "The API server does not serve NetworkAttachmentDefinitions: the controller waits, writes nothing and is not ready until it does"

// defaultAPIPollPeriod is how often the controller looks whether the
// NetworkAttachmentDefinition API is (still) served.
const defaultAPIPollPeriod = 5 * time.Second

// errAttachmentAPIGone ends a sync whose write found the
// NetworkAttachmentDefinition API gone: the Network waits, unreported and
// without backoff, for the API to come back.
var errAttachmentAPIGone = errors.New("the NetworkAttachmentDefinition API is no longer served")

// attachmentAPI is how the controller follows the NetworkAttachmentDefinition
// API: looking at discovery every period.
func attachmentAPI(period time.Duration) apiserved.Config {
	return apiserved.Config{
		GroupVersion: nadv1.SchemeGroupVersion,
		Resource:     attachmentResource,
		Kinds:        "NetworkAttachmentDefinitions",
		CRD:          attachmentCRDName,
		Hint:         "install Multus, or run: kubectl create -f artifacts/examples/network-attachment-definition-crd.yaml (from the network-controller repository)",
		Missing:      msgAttachmentAPIMissing,
		Period:       period,
	}
}
