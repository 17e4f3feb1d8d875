// Package fastjson is client-go's JSON serialization for custom resources,
// made cheaper where client-go reads the same bytes several times over.
//
// Custom resources travel as JSON (built-in types can use protobuf). For
// every object it receives, client-go first unmarshals the whole document
// with encoding/json to learn its apiVersion and kind, and, in a watch,
// scans the stream with encoding/json to cut it into events and unmarshals
// each event to take the object out of it, before it decodes the object
// for real. In a controller that syncs thousands of Networks, those extra
// passes were a fifth of its CPU. This package does them with a scanner
// that only finds where values start and end (scan.go), and hands
// anything it does not recognise to client-go's own code, so the result,
// and every error, is the same. The real decode still validates every
// byte.
package fastjson
