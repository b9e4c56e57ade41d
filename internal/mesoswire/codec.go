package mesoswire

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/kubemesos/kubemesos/internal/mesosjson"
)

// The media types of the Mesos v1 HTTP APIs.
const (
	// MediaJSON is Mesos's JSON form of protobuf (see internal/mesosjson).
	MediaJSON = "application/json"
	// MediaProtobuf is the protobuf binary form.
	MediaProtobuf = "application/x-protobuf"
)

// Codec encodes and decodes one media type.
type Codec struct {
	mediaType string
}

// The two codecs.
var (
	JSON     = Codec{mediaType: MediaJSON}
	Protobuf = Codec{mediaType: MediaProtobuf}
)

// MediaType is the codec's media type, "" for the zero Codec.
func (c Codec) MediaType() string { return c.mediaType }

// RequestCodec returns the codec of a request's Content-Type. Mesos
// compares the whole header with the two types; parameters such as
// "; charset=utf-8", which clients add, are accepted here too.
func RequestCodec(contentType string) (Codec, *Error) {
	if contentType == "" {
		return Codec{}, &Error{http.StatusBadRequest, "Expecting 'Content-Type' to be present"}
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err == nil {
		switch mt {
		case MediaJSON:
			return JSON, nil
		case MediaProtobuf:
			return Protobuf, nil
		}
	}
	return Codec{}, &Error{http.StatusUnsupportedMediaType, "Expecting 'Content-Type' of " + MediaJSON + " or " + MediaProtobuf}
}

// DecodeCall reads a call into msg from body, with Mesos's messages for a
// body that does not parse (a 400).
func (c Codec) DecodeCall(body []byte, msg proto.Message) *Error {
	if c.mediaType == MediaProtobuf {
		if err := CheckProtoElements(body, msg.ProtoReflect().Descriptor(), MaxCallElements); err != nil {
			return BadRequest("Failed to parse body into Call protobuf: " + err.Error())
		}
		if err := proto.Unmarshal(body, msg); err != nil {
			return BadRequest("Failed to parse body into Call protobuf: " + err.Error())
		}
		return nil
	}
	if err := (mesosjson.UnmarshalOptions{MaxElements: MaxCallElements}).Unmarshal(body, msg); err != nil {
		var syn *mesosjson.SyntaxError
		if errors.As(err, &syn) {
			return BadRequest("Failed to parse body into JSON: " + err.Error())
		}
		return BadRequest("Failed to convert JSON into Call protobuf: " + err.Error())
	}
	return nil
}

// Encode writes a message (an event) in the codec's form.
func (c Codec) Encode(msg proto.Message) ([]byte, error) {
	if c.mediaType == MediaProtobuf {
		b, err := proto.Marshal(msg)
		if err != nil {
			return nil, fmt.Errorf("encoding %s as protobuf: %w", msg.ProtoReflect().Descriptor().FullName(), err)
		}
		return b, nil
	}
	b, err := mesosjson.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encoding %s as JSON: %w", msg.ProtoReflect().Descriptor().FullName(), err)
	}
	return b, nil
}

// AcceptCodec picks the codec of a response from the Accept header as
// Mesos does: JSON when the header allows it, else protobuf, else none.
// No Accept header allows everything.
func AcceptCodec(accept []string) (Codec, bool) {
	if AcceptsMedia(accept, MediaJSON) {
		return JSON, true
	}
	if AcceptsMedia(accept, MediaProtobuf) {
		return Protobuf, true
	}
	return Codec{}, false
}

// NotAcceptable is the 406 of a request whose Accept header allows
// neither media type.
func NotAcceptable() *Error {
	return &Error{http.StatusNotAcceptable, "Expecting 'Accept' to allow '" + MediaProtobuf + "' or '" + MediaJSON + "'"}
}

// AcceptsMedia reports whether the Accept header values allow mediaType:
// the most specific matching range decides, and q=0 refuses.
func AcceptsMedia(accept []string, mediaType string) bool {
	if len(accept) == 0 {
		return true
	}
	typ, _, _ := strings.Cut(mediaType, "/")
	best, bestQ := -1, 0.0
	for _, header := range accept {
		for _, part := range strings.Split(header, ",") {
			fields := strings.Split(part, ";")
			rng := strings.ToLower(strings.TrimSpace(fields[0]))
			q := 1.0
			for _, p := range fields[1:] {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.TrimSpace(k) == "q" {
					if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
						q = f
					}
				}
			}
			specificity := -1
			switch rng {
			case mediaType:
				specificity = 2
			case typ + "/*":
				specificity = 1
			case "*/*":
				specificity = 0
			}
			if specificity > best {
				best, bestQ = specificity, q
			}
		}
	}
	return best >= 0 && bestQ > 0
}
