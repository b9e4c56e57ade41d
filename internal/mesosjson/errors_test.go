package mesosjson

import (
	"fmt"
	"strings"
	"testing"
)

// TestMissingFieldsErrorIsShort: an error for many missing fields names the
// first few and counts the rest, so that a call of many empty items does
// not make an answer (and a log line) of megabytes.
func TestMissingFieldsErrorIsShort(t *testing.T) {
	e := &MissingFieldsError{}
	for i := range 1000 {
		e.Fields = append(e.Fields, fmt.Sprintf("tasks[%d].name", i))
	}
	msg := e.Error()
	if !strings.HasPrefix(msg, "Missing required fields: tasks[0].name, ") || !strings.HasSuffix(msg, ", and 980 more") || len(msg) > 1024 {
		t.Errorf("%d bytes: %q; want the first %d fields and a count of the rest", len(msg), msg, maxListedFields)
	}
	e.Fields = e.Fields[:2]
	if got := e.Error(); got != "Missing required fields: tasks[0].name, tasks[1].name" {
		t.Errorf("two fields: %q", got)
	}
}

// TestCheckStructure: the structure scan refuses input nested too deep or
// opening too many objects and arrays, counting none inside strings, and
// passes the rest (0: without limit).
func TestCheckStructure(t *testing.T) {
	for _, tc := range []struct {
		in                 string
		maxDepth, maxElems int
		want               string
	}{
		{`{"a":[{},{}]}`, 0, 4, ""},
		{`{"a":[{},{},{}]}`, 0, 4, "more than 4 objects and lists"},
		{`{"a":"[[[[{{{{"}`, 0, 1, ""},
		{`[[[]]]`, 2, 0, "nest deeper than 2"},
		{`[[[]]]`, 0, 0, ""},
	} {
		err := CheckStructure([]byte(tc.in), tc.maxDepth, tc.maxElems)
		if got := fmt.Sprint(err); (tc.want == "" && err != nil) || (tc.want != "" && !strings.Contains(got, tc.want)) {
			t.Errorf("%s (depth %d, elements %d): %v, want %q", tc.in, tc.maxDepth, tc.maxElems, err, tc.want)
		}
	}
}
