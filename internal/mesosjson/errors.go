package mesosjson

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrTooLarge means the input is larger than UnmarshalOptions.MaxBytes.
var ErrTooLarge = errors.New("the JSON is too large")

// SyntaxError means the input is not one JSON value that Mesos's parser
// reads (the master answers "Failed to parse body into JSON").
type SyntaxError struct {
	// Message says what is wrong, and where.
	Message string
}

// Error returns the message.
func (e *SyntaxError) Error() string { return e.Message }

// FieldError means one field's JSON value does not fit the field.
type FieldError struct {
	// Field is the field's path from the top message, for example
	// "framework_info.capabilities[0].type".
	Field string
	// Message says what is wrong, naming the field.
	Message string
}

// Error returns the message.
func (e *FieldError) Error() string { return e.Message }

// MissingFieldsError means required fields are not set after the whole
// input is read.
type MissingFieldsError struct {
	// Fields are the paths of the missing fields.
	Fields []string
}

// maxListedFields bounds the missing fields an error names, so that a
// call of many empty items does not make an answer (and a log line) of
// megabytes.
const maxListedFields = 20

// Error lists the missing fields as Mesos does, the first maxListedFields
// of them.
func (e *MissingFieldsError) Error() string {
	if n := len(e.Fields); n > maxListedFields {
		return "Missing required fields: " + strings.Join(e.Fields[:maxListedFields], ", ") + fmt.Sprintf(", and %d more", n-maxListedFields)
	}
	return "Missing required fields: " + strings.Join(e.Fields, ", ")
}

// path is where a value sits, from the top message; it is turned into text
// only for an error.
type path struct {
	parent *path
	name   string
	index  int // of an element of a repeated field; -1 for none
}

// String returns the path as name.name[index].name.
func (p *path) String() string {
	if p == nil {
		return ""
	}
	var parts []*path
	for q := p; q != nil; q = q.parent {
		parts = append(parts, q)
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(parts[i].name)
		if parts[i].index >= 0 {
			b.WriteByte('[')
			b.WriteString(strconv.Itoa(parts[i].index))
			b.WriteByte(']')
		}
	}
	return b.String()
}
