package fastjson

import (
	"bytes"
	stdjson "encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	apiframer "k8s.io/apimachinery/pkg/util/framer"
)

// objects are documents as an API server sends them, and the cases the
// fast paths must hand over to encoding/json.
var objects = []string{
	`{"apiVersion":"samplecrd.k8s.io/v1","kind":"Network","metadata":{"name":"blue","namespace":"default","ownerReferences":[{"apiVersion":"v1","kind":"Thing"}]},"spec":{"cidr":"10.0.0.0/24","gateway":"10.0.0.1"}}`,
	`{"kind":"Network","apiVersion":"samplecrd.k8s.io/v1"}`,
	`  {  "apiVersion" : "v1" , "kind" : "List", "items" : [ {"kind":"Pod"}, 1, true, null, "x\"}" ] }  `,
	`{"metadata":{"kind":"Nested","apiVersion":"nested/v9"}}`,
	`{"apiVersion":"a/v1","kind":"First","kind":"Last"}`,
	`{"ApiVersion":"folded/v1","KIND":"Folded"}`,
	`{"apiVersion":"a/v1","kind":"K","k\u0069nd":"Escaped"}`,
	`{"apiVersion":"esc\/aped/v1","kind":"Esc\"aped"}`,
	`{"apiVersion":null,"kind":"Null"}`,
	`{"apiVersion":"a/b/c","kind":"BadVersion"}`,
	`{"apiVersion":7,"kind":"Number"}`,
	"{\"\u212aind\":\"Kelvin\"}",
	`{}`,
	`[]`,
	`"string"`,
	`{"type":"ADDED","object":{"apiVersion":"v1","kind":"Thing"}}`,
	`{"type":"MODIFIED","object":{"kind":"Thing","metadata":{"name":"x"}},"extra":1}`,
	`{"object":{"kind":"Thing"},"type":"DELETED"}`,
	`{"type":"BOOKMARK","object":null}`,
	`{"type":"ERROR","object":{"kind":"Status","code":410}}`,
	`{"type":"ADDED"}`,
	`{"type":1,"object":{}}`,
}

func TestInterpretAgreesWithTheDefault(t *testing.T) {
	for _, doc := range objects {
		checkInterpret(t, []byte(doc))
	}
}

func FuzzInterpret(f *testing.F) {
	for _, doc := range objects {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc string) { checkInterpret(t, []byte(doc)) })
}

// checkInterpret fails unless MetaFactory reads a valid document as
// json.DefaultMetaFactory does.
func checkInterpret(t *testing.T, data []byte) {
	t.Helper()
	if !stdjson.Valid(data) {
		return // only the decode after it says what is wrong with those
	}
	want, wantErr := json.DefaultMetaFactory.Interpret(data)
	got, gotErr := MetaFactory{}.Interpret(data)
	if (wantErr == nil) != (gotErr == nil) || !reflect.DeepEqual(want, got) {
		t.Errorf("Interpret(%s) = %v, %v; the default says %v, %v", data, got, gotErr, want, wantErr)
	}
}

func TestFramerAgreesWithTheDefault(t *testing.T) {
	var stream strings.Builder
	for _, doc := range objects {
		stream.WriteString(doc)
		stream.WriteString("\n")
	}
	stream.WriteString(`123 "a" true`)
	for _, size := range []int{1, 7, 64, 4096} {
		checkFrames(t, stream.String(), size)
	}
}

func FuzzFramer(f *testing.F) {
	for _, doc := range objects {
		f.Add(doc+"\n"+doc, 16)
	}
	f.Fuzz(func(t *testing.T, stream string, size int) {
		if size < 1 || size > 1<<16 {
			return
		}
		checkFrames(t, stream, size)
	})
}

// checkFrames fails unless the fast framer cuts a stream of valid JSON
// values as apimachinery's JSON framer does, read size bytes at a time.
func checkFrames(t *testing.T, stream string, size int) {
	t.Helper()
	dec := stdjson.NewDecoder(strings.NewReader(stream))
	for {
		var v stdjson.RawMessage
		if err := dec.Decode(&v); err == io.EOF {
			break
		} else if err != nil {
			return // not a stream of valid values: nothing to compare
		}
	}
	want, wantErr := readFrames(apiframer.NewJSONFramedReader(io.NopCloser(strings.NewReader(stream))), size)
	got, gotErr := readFrames(Framer.NewFrameReader(io.NopCloser(strings.NewReader(stream))), size)
	if !errors.Is(gotErr, wantErr) || !reflect.DeepEqual(got, want) {
		t.Errorf("frames of %q with a %d-byte buffer:\ngot  %q, %v\nwant %q, %v", stream, size, got, gotErr, want, wantErr)
	}
}

// readFrames reads frames from r with a buffer of size, joining the parts
// of a frame that did not fit, until an error.
func readFrames(r io.Reader, size int) ([]string, error) {
	var frames []string
	var frame []byte
	buf := make([]byte, size)
	for {
		n, err := r.Read(buf)
		frame = append(frame, buf[:n]...)
		switch {
		case errors.Is(err, io.ErrShortBuffer):
			continue
		case err != nil:
			return frames, err
		}
		frames = append(frames, string(frame))
		frame = nil
	}
}

func TestFramerEndsLikeTheDefault(t *testing.T) {
	for _, stream := range []string{"", "  \n", `{"a":1}`, `{"a":1} {"b"`, `{"a":1} 12`} {
		_, want := readFrames(apiframer.NewJSONFramedReader(io.NopCloser(strings.NewReader(stream))), 64)
		_, got := readFrames(Framer.NewFrameReader(io.NopCloser(strings.NewReader(stream))), 64)
		if !errors.Is(got, want) {
			t.Errorf("%q ends with %v, the default with %v", stream, got, want)
		}
	}
}

// scheme knows watch events, as a generated clientset's scheme does.
func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	metav1.AddToGroupVersion(s, schema.GroupVersion{Group: "samplecrd.k8s.io", Version: "v1"})
	return s
}

func TestWatchEventsAgreeWithTheDefault(t *testing.T) {
	for _, doc := range objects {
		checkWatchEvent(t, []byte(doc))
	}
}

func FuzzWatchEvent(f *testing.F) {
	for _, doc := range objects {
		f.Add(doc)
	}
	f.Fuzz(func(t *testing.T, doc string) { checkWatchEvent(t, []byte(doc)) })
}

// checkWatchEvent fails unless a valid frame decodes into a watch event as
// it does with the JSON serializer alone.
func checkWatchEvent(t *testing.T, data []byte) {
	t.Helper()
	if !stdjson.Valid(data) {
		return
	}
	s := scheme()
	serializer := json.NewSerializerWithOptions(json.DefaultMetaFactory, s, s, json.SerializerOptions{})
	var want, got metav1.WatchEvent
	_, _, wantErr := serializer.Decode(bytes.Clone(data), nil, &want)
	_, _, gotErr := watchEventDecoder{serializer}.Decode(bytes.Clone(data), nil, &got)
	if (wantErr == nil) != (gotErr == nil) || want.Type != got.Type || !bytes.Equal(want.Object.Raw, got.Object.Raw) {
		t.Errorf("watch event %s = %q %s, %v; the default says %q %s, %v", data, got.Type, got.Object.Raw, gotErr, want.Type, want.Object.Raw, wantErr)
	}
}

func TestTheEventKeepsItsObjectWhenTheFrameIsReused(t *testing.T) {
	s := scheme()
	decoder := watchEventDecoder{json.NewSerializerWithOptions(MetaFactory{}, s, s, json.SerializerOptions{})}
	frame := []byte(`{"type":"ADDED","object":{"kind":"Thing"}}`)
	var event metav1.WatchEvent
	if _, _, err := decoder.Decode(frame, nil, &event); err != nil {
		t.Fatal(err)
	}
	copy(frame, bytes.Repeat([]byte("x"), len(frame)))
	if string(event.Object.Raw) != `{"kind":"Thing"}` {
		t.Errorf("the event's object changed with its frame: %s", event.Object.Raw)
	}
}
