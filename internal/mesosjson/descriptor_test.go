package mesosjson

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// The test messages, built at run time so that these tests depend on no
// generated code (proto2, in the text form):
//
//	enum Color { UNKNOWN = 0; RED = 1; GREEN = 2; }
//	message Inner { required string value = 1; optional int32 n = 2; }
//	message All {
//	  optional string first = 30;              // declared first, numbered last
//	  optional int32 i32 = 1;  optional int64 i64 = 2;  optional uint64 u64 = 3;
//	  optional double d = 4;   optional float f = 5;    optional bool b = 6;
//	  optional string s = 7;   optional bytes by = 8;   optional Color color = 9;
//	  optional Inner inner = 10;  repeated Inner inners = 11;
//	  repeated string strs = 12;  repeated Color colors = 13;
//	  optional double interval = 14 [default = 15];
//	  optional string name = 15 [default = "x"];
//	  optional bool old = 16 [default = true, deprecated = true];
//	  optional uint32 u32 = 17;  optional sint32 s32 = 18;  optional sint64 s64 = 19;
//	  optional fixed32 fx32 = 20;  optional fixed64 fx64 = 21;
//	  optional sfixed32 sfx32 = 22;  optional sfixed64 sfx64 = 23;
//	  map<string, int32> counts = 24;  map<int64, Inner> by_id = 25;
//	  repeated int64 i64s = 26;  repeated bytes bys = 27;  repeated double ds = 28;
//	  message Sub { optional Color c = 1 [default = GREEN]; required Color must = 2; }
//	  optional Sub sub = 29;
//	  optional All next = 31;
//	  map<bool, string> flags = 32;
//	}
var (
	allDesc   protoreflect.MessageDescriptor
	innerDesc protoreflect.MessageDescriptor
)

func init() {
	const pkg = ".mesosjson.test."
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	rep := descriptorpb.FieldDescriptorProto_LABEL_REPEATED.Enum()
	req := descriptorpb.FieldDescriptorProto_LABEL_REQUIRED.Enum()
	f := func(name string, num int32, label *descriptorpb.FieldDescriptorProto_Label, typ descriptorpb.FieldDescriptorProto_Type, typeName string) *descriptorpb.FieldDescriptorProto {
		fd := &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(num), Label: label, Type: typ.Enum()}
		if typeName != "" {
			fd.TypeName = proto.String(pkg + typeName)
		}
		return fd
	}
	withDefault := func(fd *descriptorpb.FieldDescriptorProto, def string) *descriptorpb.FieldDescriptorProto {
		fd.DefaultValue = proto.String(def)
		return fd
	}
	entry := func(name string, key, value *descriptorpb.FieldDescriptorProto) *descriptorpb.DescriptorProto {
		return &descriptorpb.DescriptorProto{
			Name:    proto.String(name),
			Field:   []*descriptorpb.FieldDescriptorProto{key, value},
			Options: &descriptorpb.MessageOptions{MapEntry: proto.Bool(true)},
		}
	}
	type T = descriptorpb.FieldDescriptorProto_Type
	const (
		tInt32    = descriptorpb.FieldDescriptorProto_TYPE_INT32
		tInt64    = descriptorpb.FieldDescriptorProto_TYPE_INT64
		tUint32   = descriptorpb.FieldDescriptorProto_TYPE_UINT32
		tUint64   = descriptorpb.FieldDescriptorProto_TYPE_UINT64
		tSint32   = descriptorpb.FieldDescriptorProto_TYPE_SINT32
		tSint64   = descriptorpb.FieldDescriptorProto_TYPE_SINT64
		tFixed32  = descriptorpb.FieldDescriptorProto_TYPE_FIXED32
		tFixed64  = descriptorpb.FieldDescriptorProto_TYPE_FIXED64
		tSfixed32 = descriptorpb.FieldDescriptorProto_TYPE_SFIXED32
		tSfixed64 = descriptorpb.FieldDescriptorProto_TYPE_SFIXED64
		tDouble   = descriptorpb.FieldDescriptorProto_TYPE_DOUBLE
		tFloat    = descriptorpb.FieldDescriptorProto_TYPE_FLOAT
		tBool     = descriptorpb.FieldDescriptorProto_TYPE_BOOL
		tString   = descriptorpb.FieldDescriptorProto_TYPE_STRING
		tBytes    = descriptorpb.FieldDescriptorProto_TYPE_BYTES
		tEnum     = descriptorpb.FieldDescriptorProto_TYPE_ENUM
		tMessage  = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
	)
	old := withDefault(f("old", 16, opt, tBool, ""), "true")
	old.Options = &descriptorpb.FieldOptions{Deprecated: proto.Bool(true)}
	file := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("mesosjson_test.proto"),
		Package: proto.String("mesosjson.test"),
		Syntax:  proto.String("proto2"),
		EnumType: []*descriptorpb.EnumDescriptorProto{{
			Name: proto.String("Color"),
			Value: []*descriptorpb.EnumValueDescriptorProto{
				{Name: proto.String("UNKNOWN"), Number: proto.Int32(0)},
				{Name: proto.String("RED"), Number: proto.Int32(1)},
				{Name: proto.String("GREEN"), Number: proto.Int32(2)},
			},
		}},
		MessageType: []*descriptorpb.DescriptorProto{
			{
				Name: proto.String("Inner"),
				Field: []*descriptorpb.FieldDescriptorProto{
					f("value", 1, req, tString, ""),
					f("n", 2, opt, tInt32, ""),
				},
			},
			{
				Name: proto.String("All"),
				Field: []*descriptorpb.FieldDescriptorProto{
					f("first", 30, opt, tString, ""),
					f("i32", 1, opt, tInt32, ""),
					f("i64", 2, opt, tInt64, ""),
					f("u64", 3, opt, tUint64, ""),
					f("d", 4, opt, tDouble, ""),
					f("f", 5, opt, tFloat, ""),
					f("b", 6, opt, tBool, ""),
					f("s", 7, opt, tString, ""),
					f("by", 8, opt, tBytes, ""),
					f("color", 9, opt, tEnum, "Color"),
					f("inner", 10, opt, tMessage, "Inner"),
					f("inners", 11, rep, tMessage, "Inner"),
					f("strs", 12, rep, tString, ""),
					f("colors", 13, rep, tEnum, "Color"),
					withDefault(f("interval", 14, opt, tDouble, ""), "15"),
					withDefault(f("name", 15, opt, tString, ""), "x"),
					old,
					f("u32", 17, opt, tUint32, ""),
					f("s32", 18, opt, tSint32, ""),
					f("s64", 19, opt, tSint64, ""),
					f("fx32", 20, opt, tFixed32, ""),
					f("fx64", 21, opt, tFixed64, ""),
					f("sfx32", 22, opt, tSfixed32, ""),
					f("sfx64", 23, opt, tSfixed64, ""),
					f("counts", 24, rep, tMessage, "All.CountsEntry"),
					f("by_id", 25, rep, tMessage, "All.ByIdEntry"),
					f("i64s", 26, rep, tInt64, ""),
					f("bys", 27, rep, tBytes, ""),
					f("ds", 28, rep, tDouble, ""),
					f("sub", 29, opt, tMessage, "All.Sub"),
					f("next", 31, opt, tMessage, "All"),
					f("flags", 32, rep, tMessage, "All.FlagsEntry"),
				},
				NestedType: []*descriptorpb.DescriptorProto{
					entry("CountsEntry", f("key", 1, opt, tString, ""), f("value", 2, opt, tInt32, "")),
					entry("ByIdEntry", f("key", 1, opt, tInt64, ""), f("value", 2, opt, tMessage, "Inner")),
					entry("FlagsEntry", f("key", 1, opt, tBool, ""), f("value", 2, opt, tString, "")),
					{
						Name: proto.String("Sub"),
						Field: []*descriptorpb.FieldDescriptorProto{
							withDefault(f("c", 1, opt, tEnum, "Color"), "GREEN"),
							f("must", 2, req, tEnum, "Color"),
						},
					},
				},
			},
		},
	}
	fd, err := protodesc.NewFile(file, nil)
	if err != nil {
		panic(err)
	}
	allDesc = fd.Messages().ByName("All")
	innerDesc = fd.Messages().ByName("Inner")
}

// newAll returns an empty All.
func newAll() *dynamicpb.Message { return dynamicpb.NewMessage(allDesc) }

// fieldOf returns the field of m by name.
func fieldOf(t testing.TB, m protoreflect.Message, name string) protoreflect.FieldDescriptor {
	t.Helper()
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(name))
	if fd == nil {
		t.Fatalf("%s has no field %q", m.Descriptor().FullName(), name)
	}
	return fd
}

// set sets a singular field; v is a Go value of the field's kind, or an
// enum number.
func set(t testing.TB, m protoreflect.Message, name string, v any) {
	t.Helper()
	m.Set(fieldOf(t, m, name), protoreflect.ValueOf(v))
}

// add appends to a repeated field.
func add(t testing.TB, m protoreflect.Message, name string, vs ...any) {
	t.Helper()
	l := m.Mutable(fieldOf(t, m, name)).List()
	for _, v := range vs {
		l.Append(protoreflect.ValueOf(v))
	}
}

// sub returns a singular message field, setting it.
func sub(t testing.TB, m protoreflect.Message, name string) protoreflect.Message {
	t.Helper()
	return m.Mutable(fieldOf(t, m, name)).Message()
}

// addInner appends an Inner to a repeated field and returns it.
func addInner(t testing.TB, m protoreflect.Message, name, value string) protoreflect.Message {
	t.Helper()
	l := m.Mutable(fieldOf(t, m, name)).List()
	el := l.NewElement()
	set(t, el.Message(), "value", value)
	l.Append(el)
	return el.Message()
}

// putMap sets a map entry.
func putMap(t testing.TB, m protoreflect.Message, name string, k, v any) {
	t.Helper()
	m.Mutable(fieldOf(t, m, name)).Map().Set(protoreflect.ValueOf(k).MapKey(), protoreflect.ValueOf(v))
}
