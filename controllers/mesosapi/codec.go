package mesosapi

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
	"github.com/kubemesos/kubemesos/internal/mesosjson"
)

// The media types of the Mesos v1 HTTP APIs.
const (
	// MediaJSON is Mesos's JSON form of protobuf (see internal/mesosjson).
	MediaJSON = "application/json"
	// MediaProtobuf is the protobuf binary form.
	MediaProtobuf = "application/x-protobuf"
)

// codec encodes and decodes one media type.
type codec struct {
	mediaType string
}

var (
	jsonCodec  = codec{mediaType: MediaJSON}
	protoCodec = codec{mediaType: MediaProtobuf}
)

// requestCodec returns the codec of a request's Content-Type. Mesos
// compares the whole header with the two types; parameters such as
// "; charset=utf-8", which clients add, are accepted here too.
func requestCodec(contentType string) (codec, *httpError) {
	if contentType == "" {
		return codec{}, &httpError{http.StatusBadRequest, "Expecting 'Content-Type' to be present"}
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err == nil {
		switch mt {
		case MediaJSON:
			return jsonCodec, nil
		case MediaProtobuf:
			return protoCodec, nil
		}
	}
	return codec{}, &httpError{http.StatusUnsupportedMediaType, "Expecting 'Content-Type' of " + MediaJSON + " or " + MediaProtobuf}
}

// decodeCall reads a Call from body, with Mesos's messages for a body
// that does not parse.
func (c codec) decodeCall(body []byte) (*schedulerv1.Call, *httpError) {
	call := &schedulerv1.Call{}
	if c.mediaType == MediaProtobuf {
		if err := proto.Unmarshal(body, call); err != nil {
			return nil, badRequest("Failed to parse body into Call protobuf: " + err.Error())
		}
		return call, nil
	}
	if err := mesosjson.Unmarshal(body, call); err != nil {
		var syn *mesosjson.SyntaxError
		if errors.As(err, &syn) {
			return nil, badRequest("Failed to parse body into JSON: " + err.Error())
		}
		return nil, badRequest("Failed to convert JSON into Call protobuf: " + err.Error())
	}
	return call, nil
}

// encodeEvent writes an event in the codec's form.
func (c codec) encodeEvent(e *schedulerv1.Event) ([]byte, error) {
	if c.mediaType == MediaProtobuf {
		b, err := proto.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("encoding a %s event as protobuf: %w", e.GetType(), err)
		}
		return b, nil
	}
	b, err := mesosjson.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encoding a %s event as JSON: %w", e.GetType(), err)
	}
	return b, nil
}

// acceptCodec picks the codec of a response from the Accept header as
// Mesos does: JSON when the header allows it, else protobuf, else none.
// No Accept header allows everything.
func acceptCodec(accept []string) (codec, bool) {
	if acceptsMedia(accept, MediaJSON) {
		return jsonCodec, true
	}
	if acceptsMedia(accept, MediaProtobuf) {
		return protoCodec, true
	}
	return codec{}, false
}

// acceptsMedia reports whether the Accept header values allow mediaType:
// the most specific matching range decides, and q=0 refuses.
func acceptsMedia(accept []string, mediaType string) bool {
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
