package mesoswire

import (
	"net/http"
	"testing"
)

func TestAcceptCodec(t *testing.T) {
	cases := []struct {
		accept []string
		want   string // "" for none
	}{
		{nil, MediaJSON},
		{[]string{"application/json"}, MediaJSON},
		{[]string{"application/x-protobuf"}, MediaProtobuf},
		{[]string{"text/html, application/x-protobuf;q=0.5"}, MediaProtobuf},
		// As Mesos: JSON first whenever it is acceptable at all.
		{[]string{"application/x-protobuf", "*/*;q=0.1"}, MediaJSON},
		{[]string{"application/*"}, MediaJSON},
		{[]string{"application/*;q=0"}, ""},
		{[]string{"application/*;q=0, application/x-protobuf"}, MediaProtobuf},
		{[]string{"text/html"}, ""},
		{[]string{"application/json;q=0, */*"}, MediaProtobuf},
	}
	for _, tc := range cases {
		c, ok := AcceptCodec(tc.accept)
		if got := c.MediaType(); ok != (tc.want != "") || got != tc.want {
			t.Errorf("Accept %q: got %q (%v), want %q", tc.accept, got, ok, tc.want)
		}
	}
}

func TestRequestCodec(t *testing.T) {
	for ct, want := range map[string]int{
		"application/json": 0, "application/json; charset=utf-8": 0, "application/x-protobuf": 0,
		"": http.StatusBadRequest, "application/xml": http.StatusUnsupportedMediaType, "json": http.StatusUnsupportedMediaType,
	} {
		_, herr := RequestCodec(ct)
		if got := 0; herr != nil {
			got = herr.Code
			if got != want {
				t.Errorf("Content-Type %q: %d, want %d", ct, got, want)
			}
		} else if want != 0 {
			t.Errorf("Content-Type %q accepted, want %d", ct, want)
		}
	}
}
