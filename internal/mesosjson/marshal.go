package mesosjson

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// Marshal returns m in the JSON form that Apache Mesos writes (see the
// package documentation for the rules).
func Marshal(m proto.Message) ([]byte, error) {
	return AppendMarshal(nil, m)
}

// AppendMarshal appends m's JSON form to dst and returns the extended
// buffer.
func AppendMarshal(dst []byte, m proto.Message) ([]byte, error) {
	e := encoder{buf: dst}
	if err := e.message(m.ProtoReflect()); err != nil {
		return nil, err
	}
	return e.buf, nil
}

type encoder struct {
	buf []byte
	// at is the path to the value being written, for errors.
	at []step
}

// step is one step of a path: a field, an element of it, or a map value.
type step struct {
	name  string
	index int // of a list element; -1 for none
	key   string
	isKey bool // a map value, under key
}

// path returns where the encoder is, as name.name[index].name[key].
func (e *encoder) path() string {
	var b strings.Builder
	for i, s := range e.at {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s.name)
		switch {
		case s.isKey:
			b.WriteString("[" + s.key + "]")
		case s.index >= 0:
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
		}
	}
	return b.String()
}

func (e *encoder) fieldError(format string, args ...any) error {
	at := e.path()
	return &FieldError{Field: at, Message: fmt.Sprintf(format, append([]any{at}, args...)...)}
}

// written reports whether Mesos writes fd of m.
func written(m protoreflect.Message, fd protoreflect.FieldDescriptor) bool {
	if fd.IsList() || fd.IsMap() || m.Has(fd) {
		return m.Has(fd)
	}
	return fd.HasDefault() && !deprecated(fd)
}

func deprecated(fd protoreflect.FieldDescriptor) bool {
	opts, ok := fd.Options().(*descriptorpb.FieldOptions)
	return ok && opts.GetDeprecated()
}

func (e *encoder) message(m protoreflect.Message) error {
	e.buf = append(e.buf, '{')
	fields := m.Descriptor().Fields()
	first := true
	for i := range fields.Len() {
		fd := fields.Get(i)
		if !written(m, fd) {
			continue
		}
		if !first {
			e.buf = append(e.buf, ',')
		}
		first = false
		e.string(string(fd.Name()))
		e.buf = append(e.buf, ':')
		e.at = append(e.at, step{name: string(fd.Name()), index: -1})
		var err error
		switch {
		case fd.IsList():
			err = e.list(fd, m.Get(fd).List())
		case fd.IsMap():
			err = e.mapping(fd, m.Get(fd).Map())
		default:
			err = e.value(fd, m.Get(fd))
		}
		if err != nil {
			return err
		}
		e.at = e.at[:len(e.at)-1]
	}
	e.buf = append(e.buf, '}')
	return nil
}

func (e *encoder) list(fd protoreflect.FieldDescriptor, l protoreflect.List) error {
	e.buf = append(e.buf, '[')
	for i := range l.Len() {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		e.at[len(e.at)-1].index = i
		if err := e.value(fd, l.Get(i)); err != nil {
			return err
		}
	}
	e.at[len(e.at)-1].index = -1
	e.buf = append(e.buf, ']')
	return nil
}

func (e *encoder) mapping(fd protoreflect.FieldDescriptor, mp protoreflect.Map) error {
	keys := make([]protoreflect.MapKey, 0, mp.Len())
	mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys = append(keys, k)
		return true
	})
	slices.SortFunc(keys, compareKeys)
	e.buf = append(e.buf, '{')
	for i, k := range keys {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		name := k.String()
		e.string(name)
		e.buf = append(e.buf, ':')
		e.at[len(e.at)-1].key, e.at[len(e.at)-1].isKey = name, true
		if err := e.value(fd.MapValue(), mp.Get(k)); err != nil {
			return err
		}
	}
	e.at[len(e.at)-1].isKey = false
	e.buf = append(e.buf, '}')
	return nil
}

// compareKeys orders map keys of one kind: strings by bytes, integers by
// value, false before true.
func compareKeys(a, b protoreflect.MapKey) int {
	switch x := a.Interface().(type) {
	case string:
		return cmp.Compare(x, b.String())
	case bool:
		if x == b.Bool() {
			return 0
		}
		if !x {
			return -1
		}
		return 1
	case int32, int64:
		return cmp.Compare(a.Int(), b.Int())
	default:
		return cmp.Compare(a.Uint(), b.Uint())
	}
}

// value writes one singular value (or one element of a list) of fd.
func (e *encoder) value(fd protoreflect.FieldDescriptor, v protoreflect.Value) error {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		e.buf = strconv.AppendBool(e.buf, v.Bool())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		e.buf = strconv.AppendInt(e.buf, v.Int(), 10)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		e.buf = strconv.AppendUint(e.buf, v.Uint(), 10)
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := v.Float()
		if math.IsNaN(f) {
			return e.fieldError("field '%s' is NaN, which has no JSON form")
		}
		e.buf = appendDouble(e.buf, f)
	case protoreflect.StringKind:
		e.string(v.String())
	case protoreflect.BytesKind:
		b := v.Bytes()
		n := base64.StdEncoding.EncodedLen(len(b))
		e.buf = append(e.buf, '"')
		e.buf = slices.Grow(e.buf, n)
		base64.StdEncoding.Encode(e.buf[len(e.buf):len(e.buf)+n], b)
		e.buf = append(e.buf[:len(e.buf)+n], '"')
	case protoreflect.EnumKind:
		ev := fd.Enum().Values().ByNumber(v.Enum())
		if ev == nil {
			return e.fieldError("field '%s' holds %d, which is no value of %s", v.Enum(), fd.Enum().FullName())
		}
		e.string(string(ev.Name()))
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return e.message(v.Message())
	default:
		return e.fieldError("field '%s' has the unknown kind %v", fd.Kind())
	}
	return nil
}

// appendDouble appends f as rapidjson's Writer::Double writes it with the
// NaN-and-Infinity flag and Mesos's patch (infinities as strings). f is
// not NaN.
func appendDouble(dst []byte, f float64) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(dst, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(dst, `"-Infinity"`...)
	case f == 0:
		if math.Signbit(f) {
			return append(dst, "-0.0"...)
		}
		return append(dst, "0.0"...)
	}
	if f < 0 {
		dst = append(dst, '-')
		f = -f
	}
	// The shortest digits d1.d2d3…e±x; the value is digits × 10^k.
	var scratch [32]byte
	s := strconv.AppendFloat(scratch[:0], f, 'e', -1, 64)
	mark := slices.Index(s, 'e')
	exp, _ := strconv.Atoi(string(s[mark+1:]))
	var digitsBuf [24]byte
	digits := append(digitsBuf[:0], s[0])
	if mark > 1 {
		digits = append(digits, s[2:mark]...)
	}
	length := len(digits)
	k := exp - (length - 1)
	kk := length + k // 10^(kk-1) <= f < 10^kk
	switch {
	case k >= 0 && kk <= 21:
		dst = append(dst, digits...)
		for range kk - length {
			dst = append(dst, '0')
		}
		return append(dst, '.', '0')
	case kk > 0 && kk <= 21:
		dst = append(dst, digits[:kk]...)
		dst = append(dst, '.')
		return append(dst, digits[kk:]...)
	case kk > -6 && kk <= 0:
		dst = append(dst, '0', '.')
		for range -kk {
			dst = append(dst, '0')
		}
		return append(dst, digits...)
	case length == 1:
		dst = append(dst, digits[0], 'e')
		return strconv.AppendInt(dst, int64(kk-1), 10)
	default:
		dst = append(dst, digits[0], '.')
		dst = append(dst, digits[1:]...)
		dst = append(dst, 'e')
		return strconv.AppendInt(dst, int64(kk-1), 10)
	}
}

const hexDigits = "0123456789ABCDEF"

// string appends s as a JSON string the way rapidjson escapes it.
func (e *encoder) string(s string) {
	e.buf = append(e.buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		e.buf = append(e.buf, s[start:i]...)
		switch c {
		case '"', '\\':
			e.buf = append(e.buf, '\\', c)
		case '\b':
			e.buf = append(e.buf, '\\', 'b')
		case '\t':
			e.buf = append(e.buf, '\\', 't')
		case '\n':
			e.buf = append(e.buf, '\\', 'n')
		case '\f':
			e.buf = append(e.buf, '\\', 'f')
		case '\r':
			e.buf = append(e.buf, '\\', 'r')
		default:
			e.buf = append(e.buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	e.buf = append(e.buf, s[start:]...)
	e.buf = append(e.buf, '"')
}
