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
