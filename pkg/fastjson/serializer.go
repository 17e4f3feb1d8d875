package fastjson

import (
	"bytes"
	stdjson "encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
)

// NegotiatedSerializer returns what a generated clientset's REST client
// negotiates with for the types in scheme: JSON, as client-go's
// WithoutConversion codecs for generated clients do when CBOR is off, but
// with this package's MetaFactory, Framer and watch event decoding. It
// also reads protobuf, for the API machinery's own types only (Status,
// PartialObjectMetadata): a request that needs no more than an object's
// metadata back can ask for just that, in protobuf (see MetadataOnly).
func NegotiatedSerializer(scheme *runtime.Scheme) runtime.NegotiatedSerializer {
	serializer := json.NewSerializerWithOptions(MetaFactory{}, scheme, scheme, json.SerializerOptions{})
	return negotiated{scheme: scheme, infos: []runtime.SerializerInfo{{
		MediaType:        runtime.ContentTypeJSON,
		MediaTypeType:    "application",
		MediaTypeSubType: "json",
		EncodesAsText:    true,
		Serializer:       serializer,
		StreamSerializer: &runtime.StreamSerializerInfo{
			EncodesAsText: true,
			Serializer:    watchEventDecoder{serializer},
			Framer:        Framer,
		},
	}, {
		MediaType:        runtime.ContentTypeProtobuf,
		MediaTypeType:    "application",
		MediaTypeSubType: "vnd.kubernetes.protobuf",
		Serializer:       metaProtobuf,
	}}}
}

// metaScheme knows the API machinery's own types, and metaProtobuf reads
// and writes them.
var (
	metaScheme   = newMetaScheme()
	metaProtobuf = protobuf.NewSerializer(metaScheme, metaScheme)
)

func newMetaScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	metav1.AddMetaToScheme(s)
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	return s
}

// MetadataOnly is the Accept header that asks the API server to answer a
// request on a custom resource with the object's metadata alone, in
// protobuf (cheap to read), or failing that in JSON; read the answer with
// DecodeMetadata. The metadata client asks the same.
const MetadataOnly = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1," +
	"application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"

// protobufMagic starts every Kubernetes protobuf message.
var protobufMagic = []byte{'k', '8', 's', 0}

// DecodeMetadata reads the metadata of the object in an answer to a
// request made with MetadataOnly: PartialObjectMetadata in protobuf or
// JSON, or, from a server that offers neither, the whole object in JSON.
func DecodeMetadata(raw []byte) (*metav1.PartialObjectMetadata, error) {
	var partial metav1.PartialObjectMetadata
	if bytes.HasPrefix(raw, protobufMagic) {
		if _, _, err := metaProtobuf.Decode(raw, nil, &partial); err != nil {
			return nil, err
		}
		return &partial, nil
	}
	if err := stdjson.Unmarshal(raw, &partial); err != nil {
		return nil, fmt.Errorf("reading the metadata of an answer: %w", err)
	}
	return &partial, nil
}

// negotiated is the runtime.NegotiatedSerializer NegotiatedSerializer
// returns. Like serializer.WithoutConversionCodecFactory, it sets the
// group, version and kind on what it encodes and leaves them as decoded.
type negotiated struct {
	scheme *runtime.Scheme
	infos  []runtime.SerializerInfo
}

func (n negotiated) SupportedMediaTypes() []runtime.SerializerInfo {
	return n.infos
}

func (n negotiated) EncoderForVersion(e runtime.Encoder, gv runtime.GroupVersioner) runtime.Encoder {
	return runtime.WithVersionEncoder{Version: gv, Encoder: e, ObjectTyper: n.scheme}
}

func (n negotiated) DecoderToVersion(d runtime.Decoder, _ runtime.GroupVersioner) runtime.Decoder {
	return runtime.WithoutVersionDecoder{Decoder: d}
}

// watchEventDecoder decodes the frames of a watch stream: a watch event
// is taken apart without unmarshalling the object it carries, which is
// decoded next anyway. Anything else goes to the JSON serializer.
type watchEventDecoder struct {
	runtime.Serializer
}

func (d watchEventDecoder) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	if event, ok := into.(*metav1.WatchEvent); ok {
		if eventType, object, ok := splitWatchEvent(data); ok {
			event.Type = eventType
			// The frame's buffer is reused for the next one.
			event.Object = runtime.RawExtension{Raw: append([]byte(nil), object...)}
			return event, nil, nil
		}
	}
	return d.Serializer.Decode(data, defaults, into)
}

// splitWatchEvent returns the type and the raw object of a watch event,
// {"type":"ADDED","object":{...}}, and false for anything else.
func splitWatchEvent(data []byte) (eventType string, object []byte, ok bool) {
	readable, haveType := true, false
	ok = members(data, func(key, value []byte) bool {
		switch string(key) {
		case "type":
			eventType, haveType = plainString(value)
			readable = haveType
		case "object":
			if len(value) == 0 || value[0] != '{' {
				readable = false
			}
			object = value
		default:
			readable = false
		}
		return readable
	})
	return eventType, object, ok && readable && haveType && object != nil
}
