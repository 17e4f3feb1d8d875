package fastjson

import (
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/runtime"
)

// Framer cuts a stream of JSON values (a watch) into frames, one value
// each, as json.Framer does, by matching brackets instead of running
// encoding/json's scanner over every byte.
var Framer runtime.Framer = framer{}

type framer struct{}

// NewFrameWriter returns w: JSON values delimit themselves.
func (framer) NewFrameWriter(w io.Writer) io.Writer { return w }

// NewFrameReader returns a reader of r whose every Read returns one JSON
// value, or, when the buffer is too small, the start of one and
// io.ErrShortBuffer, and the rest on the next Reads.
func (framer) NewFrameReader(r io.ReadCloser) io.ReadCloser {
	return &frameReader{r: r, buf: make([]byte, 0, frameReadSize)}
}

// frameReadSize is how much a frameReader reads from the stream at once.
const frameReadSize = 32 << 10

// frameReader is the reader NewFrameReader returns.
type frameReader struct {
	r io.ReadCloser
	// buf[start:] holds what was read from r and not returned yet.
	buf   []byte
	start int
	// remaining is the rest of a frame that did not fit a Read's buffer.
	remaining []byte
	err       error // from r, once it failed
}

// Read implements io.Reader with the semantics above.
func (f *frameReader) Read(data []byte) (int, error) {
	if len(f.remaining) > 0 {
		n := copy(data, f.remaining)
		f.remaining = f.remaining[n:]
		if len(f.remaining) > 0 {
			return n, io.ErrShortBuffer
		}
		f.remaining = nil
		return n, nil
	}
	frame, err := f.next()
	if err != nil {
		return 0, err
	}
	n := copy(data, frame)
	if n < len(frame) {
		f.remaining = append([]byte(nil), frame[n:]...)
		return n, io.ErrShortBuffer
	}
	return n, nil
}

// Close closes the stream.
func (f *frameReader) Close() error { return f.r.Close() }

// next returns the next JSON value of the stream, valid until the next
// call: io.EOF when the stream ends between values, io.ErrUnexpectedEOF
// when it ends inside one, as encoding/json's Decoder would.
func (f *frameReader) next() ([]byte, error) {
	for {
		i := skipSpace(f.buf, f.start)
		f.start = i
		if i < len(f.buf) {
			if c := f.buf[i]; c == '}' || c == ']' || c == ',' || c == ':' {
				return nil, fmt.Errorf("invalid character %q looking for beginning of value", c)
			}
			if end, ok := valueEnd(f.buf, i); ok && (end < len(f.buf) || f.err != nil || f.buf[i] == '{' || f.buf[i] == '[' || f.buf[i] == '"') {
				f.start = end
				return f.buf[i:end], nil
			}
		}
		if f.err != nil {
			if f.err == io.EOF && f.start < len(f.buf) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, f.err
		}
		f.fill()
	}
}

// fill reads more of the stream into buf, keeping what is not returned
// yet and dropping what is.
func (f *frameReader) fill() {
	if f.start > 0 {
		n := copy(f.buf, f.buf[f.start:])
		f.buf, f.start = f.buf[:n], 0
	}
	if cap(f.buf)-len(f.buf) < frameReadSize/2 {
		grown := make([]byte, len(f.buf), 2*cap(f.buf)+frameReadSize)
		copy(grown, f.buf)
		f.buf = grown
	}
	n, err := f.r.Read(f.buf[len(f.buf):cap(f.buf)])
	f.buf = f.buf[:len(f.buf)+n]
	if err != nil {
		f.err = err
	}
}
