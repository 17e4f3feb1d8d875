package fastjson

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
)

// MetaFactory finds an object's apiVersion and kind as
// json.DefaultMetaFactory does, without unmarshalling the whole object.
type MetaFactory struct{}

var _ json.MetaFactory = MetaFactory{}

// Interpret returns the group, version and kind of the JSON object in
// data. Objects it cannot read cheaply (not an object, escaped keys or
// values, keys that encoding/json might match to apiVersion or kind when
// it ignores case) go to json.DefaultMetaFactory. Unlike it, Interpret does
// not validate the parts of data it skips: the decode that follows does.
func (MetaFactory) Interpret(data []byte) (*schema.GroupVersionKind, error) {
	var apiVersion, kind string
	readable := true
	ok := members(data, func(key, value []byte) bool {
		var into *string
		switch string(key) {
		case "apiVersion":
			into = &apiVersion
		case "kind":
			into = &kind
		default:
			if foldsTo(key, "apiversion") || foldsTo(key, "kind") {
				readable = false
				return false
			}
			return true
		}
		s, plain := plainString(value)
		if !plain {
			readable = false
			return false
		}
		*into = s
		return true
	})
	if !ok || !readable {
		return json.DefaultMetaFactory.Interpret(data)
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return nil, err
	}
	return &schema.GroupVersionKind{Group: gv.Group, Version: gv.Version, Kind: kind}, nil
}

// foldsTo reports whether key may match lower, an ASCII lower-case word,
// when case is ignored, as encoding/json matches keys to fields: equal but
// for ASCII case, or holding bytes outside ASCII, some of which it folds
// too (the Kelvin sign to k).
func foldsTo(key []byte, lower string) bool {
	for _, c := range key {
		if c >= 0x80 {
			return true
		}
	}
	if len(key) != len(lower) {
		return false
	}
	for i := range key {
		c := key[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
