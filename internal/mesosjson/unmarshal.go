package mesosjson

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

const (
	// DefaultMaxBytes is the largest input Unmarshal reads.
	DefaultMaxBytes = 16 << 20
	// DefaultMaxDepth is how deep Unmarshal lets objects and arrays nest:
	// Mesos's JSON parser stops at 200.
	DefaultMaxDepth = 200
)

// UnmarshalOptions are the limits of Unmarshal. The zero value means the
// defaults.
type UnmarshalOptions struct {
	// MaxBytes is the largest input read; 0 means DefaultMaxBytes.
	MaxBytes int
	// MaxDepth is how deep objects and arrays may nest (the top object is
	// depth 1); 0 means DefaultMaxDepth.
	MaxDepth int
	// MaxElements is how many objects and arrays the input may open in
	// all; 0 means no limit.
	MaxElements int
}

// Unmarshal reads b, in the JSON form that Apache Mesos reads, into m,
// with the default limits. See the package documentation for the rules.
func Unmarshal(b []byte, m proto.Message) error {
	return UnmarshalOptions{}.Unmarshal(b, m)
}

// Unmarshal reads b into m. m is cleared first, and left cleared when b
// is refused.
func (o UnmarshalOptions) Unmarshal(b []byte, m proto.Message) error {
	proto.Reset(m)
	if err := o.unmarshal(b, m.ProtoReflect()); err != nil {
		proto.Reset(m)
		return err
	}
	return nil
}

func (o UnmarshalOptions) unmarshal(b []byte, m protoreflect.Message) error {
	maxBytes, maxDepth := o.MaxBytes, o.MaxDepth
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	if len(b) > maxBytes {
		return fmt.Errorf("%w: %d bytes; the limit is %d", ErrTooLarge, len(b), maxBytes)
	}
	if err := CheckStructure(b, maxDepth, o.MaxElements); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if errors.Is(err, io.EOF) {
			return &SyntaxError{Message: "no JSON value"}
		}
		return &SyntaxError{Message: err.Error()}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return &SyntaxError{Message: fmt.Sprintf("the JSON value is followed by more at offset %d", dec.InputOffset())}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return errors.New("Expecting a JSON object") //nolint:staticcheck // Mesos's words.
	}
	if err := object(m, obj, nil); err != nil {
		return err
	}
	var missing []string
	missingFields(m, nil, &missing)
	if len(missing) > 0 {
		return &MissingFieldsError{Fields: missing}
	}
	return nil
}

// TooManyElements is the error for input that holds more than limit
// objects and lists (or messages, in protobuf).
func TooManyElements(limit int) error {
	return &SyntaxError{Message: fmt.Sprintf("the call holds more than %d objects and lists; send its items in several calls", limit)}
}

// CheckStructure refuses JSON whose objects and arrays nest deeper than
// maxDepth, or that opens more than maxElements of them in all (0: either
// without limit), before anything is decoded: a megabyte of empty items
// would decode into hundreds of megabytes. It reads the structure only; the
// decoder checks the syntax.
func CheckStructure(b []byte, maxDepth, maxElements int) error {
	depth, elements := 0, 0
	inString, escaped := false, false
	for i, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if maxDepth > 0 && depth > maxDepth {
				return &SyntaxError{Message: fmt.Sprintf("objects and arrays nest deeper than %d at offset %d", maxDepth, i)}
			}
			if elements++; maxElements > 0 && elements > maxElements {
				return TooManyElements(maxElements)
			}
		case '}', ']':
			depth--
		}
	}
	return nil
}

// sortedKeys returns obj's keys in byte order, the order in which stout
// applies them.
func sortedKeys(obj map[string]any) []string {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// object applies the members of obj to m.
func object(m protoreflect.Message, obj map[string]any, at *path) error {
	fields := m.Descriptor().Fields()
	for _, k := range sortedKeys(obj) {
		fd := fields.ByName(protoreflect.Name(k))
		if fd == nil {
			continue
		}
		if err := field(m, fd, obj[k], &path{parent: at, name: k, index: -1}); err != nil {
			return err
		}
	}
	return nil
}

func notExpecting(what string, at *path) error {
	return &FieldError{Field: at.String(), Message: fmt.Sprintf("Not expecting a JSON %s for field '%s'", what, at)}
}

func isMessage(fd protoreflect.FieldDescriptor) bool {
	return fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind
}

// field applies one JSON value to fd of m.
func field(m protoreflect.Message, fd protoreflect.FieldDescriptor, v any, at *path) error {
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		if !fd.IsList() && !fd.IsMap() {
			return notExpecting("array", at)
		}
		for i, el := range x {
			if err := field(m, fd, el, &path{parent: at.parent, name: at.name, index: i}); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		switch {
		case !isMessage(fd):
			return notExpecting("object", at)
		case fd.IsMap():
			return mapEntries(m.Mutable(fd).Map(), fd, x, at)
		case fd.IsList():
			l := m.Mutable(fd).List()
			el := l.NewElement()
			l.Append(el)
			if at.index < 0 {
				at = &path{parent: at.parent, name: at.name, index: l.Len() - 1}
			}
			return object(el.Message(), x, at)
		default:
			return object(m.Mutable(fd).Message(), x, at)
		}
	}
	val, ok, err := scalar(fd, v, at)
	if err != nil || !ok {
		return err
	}
	if fd.IsList() {
		m.Mutable(fd).List().Append(val)
	} else {
		m.Set(fd, val)
	}
	return nil
}

// mapEntries applies the members of obj as entries of the map field fd.
func mapEntries(mp protoreflect.Map, fd protoreflect.FieldDescriptor, obj map[string]any, at *path) error {
	kd, vd := fd.MapKey(), fd.MapValue()
	for _, k := range sortedKeys(obj) {
		p := &path{parent: at.parent, name: at.name + "[" + k + "]", index: -1}
		kv, ok, err := scalar(kd, k, p)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		key := kv.MapKey()
		switch x := obj[k].(type) {
		case nil:
			mp.Set(key, zero(mp, vd))
		case []any:
			return notExpecting("array", p)
		case map[string]any:
			if !isMessage(vd) {
				return notExpecting("object", p)
			}
			val := mp.NewValue()
			if err := object(val.Message(), x, p); err != nil {
				return err
			}
			mp.Set(key, val)
		default:
			val, ok, err := scalar(vd, x, p)
			if err != nil {
				return err
			}
			if !ok {
				val = zero(mp, vd)
			}
			mp.Set(key, val)
		}
	}
	return nil
}

// zero is the value of a map entry whose value is not given.
func zero(mp protoreflect.Map, vd protoreflect.FieldDescriptor) protoreflect.Value {
	if isMessage(vd) {
		return mp.NewValue()
	}
	return vd.Default()
}

// scalar converts a JSON string, number or boolean for fd. ok is false
// when the value is to be dropped (an unknown enum name of a field that
// is not required).
func scalar(fd protoreflect.FieldDescriptor, v any, at *path) (val protoreflect.Value, ok bool, err error) {
	kind := fd.Kind()
	switch x := v.(type) {
	case string:
		switch kind {
		case protoreflect.StringKind:
			return protoreflect.ValueOfString(x), true, nil
		case protoreflect.BytesKind:
			b, err := decodeBase64(x)
			if err != nil {
				return val, false, &FieldError{Field: at.String(), Message: fmt.Sprintf("Failed to base64 decode bytes field '%s': %v", at, err)}
			}
			return protoreflect.ValueOfBytes(b), true, nil
		case protoreflect.EnumKind:
			ev := fd.Enum().Values().ByName(protoreflect.Name(x))
			if ev == nil {
				if fd.Cardinality() == protoreflect.Required {
					return val, false, &FieldError{Field: at.String(), Message: fmt.Sprintf("Failed to find enum for '%s' of field '%s'", x, at)}
				}
				return val, false, nil
			}
			return protoreflect.ValueOfEnum(ev.Number()), true, nil
		case protoreflect.BoolKind:
			switch strings.Trim(x, jsonSpace) {
			case "true":
				return protoreflect.ValueOfBool(true), true, nil
			case "false":
				return protoreflect.ValueOfBool(false), true, nil
			}
			return val, false, &FieldError{Field: at.String(), Message: fmt.Sprintf("Failed to parse '%s' as a JSON boolean for field '%s'", x, at)}
		case protoreflect.DoubleKind, protoreflect.FloatKind:
			switch x {
			case "Infinity":
				return floatValue(kind, math.Inf(1)), true, nil
			case "-Infinity":
				return floatValue(kind, math.Inf(-1)), true, nil
			}
		}
		if !isNumeric(kind) {
			return val, false, notExpecting("string", at)
		}
		t := strings.Trim(x, jsonSpace)
		if !isNumberText(t) {
			return val, false, &FieldError{Field: at.String(), Message: fmt.Sprintf("Failed to parse '%s' as a JSON number for field '%s'", x, at)}
		}
		return number(fd, t, at)
	case json.Number:
		if !isNumeric(kind) {
			return val, false, notExpecting("number", at)
		}
		return number(fd, string(x), at)
	case bool:
		if kind != protoreflect.BoolKind {
			return val, false, notExpecting("boolean", at)
		}
		return protoreflect.ValueOfBool(x), true, nil
	}
	return val, false, &FieldError{Field: at.String(), Message: fmt.Sprintf("field '%s': unexpected JSON value %T", at, v)}
}

// jsonSpace is what JSON counts as whitespace.
const jsonSpace = " \t\n\r"

func isNumeric(k protoreflect.Kind) bool {
	switch k {
	case protoreflect.BoolKind, protoreflect.EnumKind, protoreflect.StringKind, protoreflect.BytesKind,
		protoreflect.MessageKind, protoreflect.GroupKind:
		return false
	}
	return true
}

// isNumberText reports whether t is one JSON number.
func isNumberText(t string) bool {
	return t != "" && (t[0] == '-' || t[0] >= '0' && t[0] <= '9') && json.Valid([]byte(t))
}

func floatValue(kind protoreflect.Kind, f float64) protoreflect.Value {
	if kind == protoreflect.FloatKind {
		return protoreflect.ValueOfFloat32(float32(f))
	}
	return protoreflect.ValueOfFloat64(f)
}

// number converts the JSON number text for fd.
func number(fd protoreflect.FieldDescriptor, text string, at *path) (protoreflect.Value, bool, error) {
	kind := fd.Kind()
	outOfRange := func() (protoreflect.Value, bool, error) {
		return protoreflect.Value{}, false, &FieldError{Field: at.String(), Message: fmt.Sprintf("Value %s is out of range for the %s field '%s'", text, kind, at)}
	}
	// As picojson: an integer that fits 64 bits is kept exact (picojson
	// keeps only int64; uint64 is kept exact here too), anything else
	// becomes a double.
	var (
		integer  bool
		negative bool
		i        int64
		u        uint64
		f        float64
	)
	if !strings.ContainsAny(text, ".eE") {
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			integer, negative, i, u = true, n < 0, n, uint64(n)
		} else if n, err := strconv.ParseUint(text, 10, 64); err == nil {
			integer, u = true, n
		}
	}
	if !integer {
		var err error
		f, err = strconv.ParseFloat(text, 64)
		if err != nil && !math.IsInf(f, 0) {
			return protoreflect.Value{}, false, &FieldError{Field: at.String(), Message: fmt.Sprintf("Failed to parse '%s' as a JSON number for field '%s'", text, at)}
		}
		if math.IsInf(f, 0) {
			return outOfRange()
		}
	}
	signed := func(lo, hi int64) (int64, bool) {
		if integer {
			if negative {
				return i, i >= lo
			}
			return int64(u), u <= uint64(hi)
		}
		t := math.Trunc(f)
		return int64(t), t >= float64(lo) && t < float64(hi)+1
	}
	unsigned := func(hi uint64) (uint64, bool) {
		if integer {
			return u, !negative && u <= hi
		}
		t := math.Trunc(f)
		return uint64(t), t >= 0 && t < float64(hi)+1
	}
	switch kind {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		if n, ok := signed(math.MinInt32, math.MaxInt32); ok {
			return protoreflect.ValueOfInt32(int32(n)), true, nil
		}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		if n, ok := signed(math.MinInt64, math.MaxInt64); ok {
			return protoreflect.ValueOfInt64(n), true, nil
		}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		if n, ok := unsigned(math.MaxUint32); ok {
			return protoreflect.ValueOfUint32(uint32(n)), true, nil
		}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if n, ok := unsigned(math.MaxUint64); ok {
			return protoreflect.ValueOfUint64(n), true, nil
		}
	case protoreflect.DoubleKind, protoreflect.FloatKind:
		switch {
		case !integer:
		case negative:
			f = float64(i)
		default:
			f = float64(u)
		}
		if kind == protoreflect.FloatKind && math.IsInf(float64(float32(f)), 0) {
			break
		}
		return floatValue(kind, f), true, nil
	}
	return outOfRange()
}

// decodeBase64 reads base64 as stout's base64::decode does: the standard
// alphabet, whitespace skipped, everything from the first '=' on ignored,
// and a last lone character (six bits, less than a byte) dropped.
func decodeBase64(s string) ([]byte, error) {
	buf := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '=' {
			break
		}
		switch {
		case c == ' ' || c >= '\t' && c <= '\r':
			continue
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
			buf = append(buf, c)
		default:
			return nil, fmt.Errorf("Invalid character '%c'", c) //nolint:staticcheck // Mesos's words.
		}
	}
	if len(buf)%4 == 1 {
		buf = buf[:len(buf)-1]
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(buf)))
	n, err := base64.RawStdEncoding.Decode(out, buf)
	if err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	return out[:n], nil
}

// missingFields appends the paths of m's unset required fields, at any
// depth, in the order protobuf's FindInitializationErrors reports them:
// this message's fields in declaration order, then those within its set
// message fields in field number order.
func missingFields(m protoreflect.Message, at *path, out *[]string) {
	fields := m.Descriptor().Fields()
	var nested []protoreflect.FieldDescriptor
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Cardinality() == protoreflect.Required && !m.Has(fd) {
			*out = append(*out, (&path{parent: at, name: string(fd.Name()), index: -1}).String())
		}
		if m.Has(fd) && (fd.IsMap() && isMessage(fd.MapValue()) || !fd.IsMap() && isMessage(fd)) {
			nested = append(nested, fd)
		}
	}
	slices.SortFunc(nested, func(a, b protoreflect.FieldDescriptor) int { return int(a.Number()) - int(b.Number()) })
	for _, fd := range nested {
		name := string(fd.Name())
		switch {
		case fd.IsMap():
			mp := m.Get(fd).Map()
			keys := make([]protoreflect.MapKey, 0, mp.Len())
			mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
				keys = append(keys, k)
				return true
			})
			slices.SortFunc(keys, compareKeys)
			for _, k := range keys {
				missingFields(mp.Get(k).Message(), &path{parent: at, name: name + "[" + k.String() + "]", index: -1}, out)
			}
		case fd.IsList():
			l := m.Get(fd).List()
			for i := range l.Len() {
				missingFields(l.Get(i).Message(), &path{parent: at, name: name, index: i}, out)
			}
		default:
			missingFields(m.Get(fd).Message(), &path{parent: at, name: name, index: -1}, out)
		}
	}
}
