package mesoswire

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kubemesos/kubemesos/internal/mesosjson"
)

// MaxCallElements bounds the objects and lists one call may hold, whatever
// its size in bytes: a megabyte of empty items (`{},` in JSON, two bytes each
// in protobuf) would otherwise decode into hundreds of megabytes, enough for
// one caller to have the agent or the master killed for its memory. A call
// within the limits that the APIs set on what it carries (a SUBSCRIBE's
// unacknowledged tasks and updates, an ACCEPT's operations) holds far fewer.
const MaxCallElements = 32768

// maxNesting bounds how deep the protobuf walk follows nested messages;
// the decoder refuses deeper ones itself.
const maxNesting = 100

// CheckProtoElements refuses a protobuf message of type md that holds more
// than limit messages, nested ones included, before it is decoded. Bytes
// that do not parse pass: the decoder says what is wrong with them.
func CheckProtoElements(body []byte, md protoreflect.MessageDescriptor, limit int) error {
	n := 0
	var walk func(b []byte, md protoreflect.MessageDescriptor, depth int) error
	walk = func(b []byte, md protoreflect.MessageDescriptor, depth int) error {
		for len(b) > 0 {
			num, typ, l := protowire.ConsumeTag(b)
			if l < 0 {
				return nil
			}
			b = b[l:]
			if typ != protowire.BytesType {
				m := protowire.ConsumeFieldValue(num, typ, b)
				if m < 0 {
					return nil
				}
				b = b[m:]
				continue
			}
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil
			}
			b = b[m:]
			fd := md.Fields().ByNumber(num)
			if fd == nil || fd.Kind() != protoreflect.MessageKind || depth >= maxNesting {
				continue
			}
			if n++; n > limit {
				return mesosjson.TooManyElements(limit)
			}
			if err := walk(v, fd.Message(), depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(body, md, 0)
}
