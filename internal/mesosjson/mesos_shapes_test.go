package mesosjson

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
)

// frameworkInfoDesc is the part of mesos.v1.FrameworkInfo (field names,
// numbers, defaults and declaration order as in Mesos's
// include/mesos/v1/mesos.proto) whose JSON real frameworks send and read.
var frameworkInfoDesc = func() protoreflect.MessageDescriptor {
	fld := func(name string, num int32, label descriptorpb.FieldDescriptorProto_Label, typ descriptorpb.FieldDescriptorProto_Type) *descriptorpb.FieldDescriptorProto {
		return &descriptorpb.FieldDescriptorProto{Name: proto.String(name), Number: proto.Int32(num), Label: label.Enum(), Type: typ.Enum()}
	}
	const (
		opt  = descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
		req  = descriptorpb.FieldDescriptorProto_LABEL_REQUIRED
		rep  = descriptorpb.FieldDescriptorProto_LABEL_REPEATED
		str  = descriptorpb.FieldDescriptorProto_TYPE_STRING
		dbl  = descriptorpb.FieldDescriptorProto_TYPE_DOUBLE
		boo  = descriptorpb.FieldDescriptorProto_TYPE_BOOL
		msg  = descriptorpb.FieldDescriptorProto_TYPE_MESSAGE
		enum = descriptorpb.FieldDescriptorProto_TYPE_ENUM
	)
	id := fld("id", 3, opt, msg)
	id.TypeName = proto.String(".mesos.v1.FrameworkID")
	failover := fld("failover_timeout", 4, opt, dbl)
	failover.DefaultValue = proto.String("0.0")
	checkpoint := fld("checkpoint", 5, opt, boo)
	checkpoint.DefaultValue = proto.String("false")
	role := fld("role", 6, opt, str)
	role.DefaultValue = proto.String("*")
	role.Options = &descriptorpb.FieldOptions{Deprecated: proto.Bool(true)}
	capType := fld("type", 1, opt, enum)
	capType.TypeName = proto.String(".mesos.v1.FrameworkInfo.Capability.Type")
	caps := fld("capabilities", 10, rep, msg)
	caps.TypeName = proto.String(".mesos.v1.FrameworkInfo.Capability")
	enumValue := func(name string, n int32) *descriptorpb.EnumValueDescriptorProto {
		return &descriptorpb.EnumValueDescriptorProto{Name: proto.String(name), Number: proto.Int32(n)}
	}
	file := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("mesos_shapes_test.proto"),
		Package: proto.String("mesos.v1"),
		Syntax:  proto.String("proto2"),
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: proto.String("FrameworkID"), Field: []*descriptorpb.FieldDescriptorProto{fld("value", 1, req, str)}},
			{
				Name: proto.String("FrameworkInfo"),
				Field: []*descriptorpb.FieldDescriptorProto{
					fld("user", 1, req, str), fld("name", 2, req, str), id, failover, checkpoint, role,
					fld("roles", 12, rep, str), fld("hostname", 7, opt, str), fld("principal", 8, opt, str),
					fld("webui_url", 9, opt, str), caps,
				},
				NestedType: []*descriptorpb.DescriptorProto{{
					Name:  proto.String("Capability"),
					Field: []*descriptorpb.FieldDescriptorProto{capType},
					EnumType: []*descriptorpb.EnumDescriptorProto{{
						Name: proto.String("Type"),
						Value: []*descriptorpb.EnumValueDescriptorProto{
							enumValue("UNKNOWN", 0), enumValue("REVOCABLE_RESOURCES", 1), enumValue("TASK_KILLING_STATE", 2),
							enumValue("GPU_RESOURCES", 3), enumValue("SHARED_RESOURCES", 4), enumValue("PARTITION_AWARE", 5),
							enumValue("MULTI_ROLE", 6), enumValue("RESERVATION_REFINEMENT", 7), enumValue("REGION_AWARE", 8),
						},
					}},
				}},
			},
		},
	}
	fd, err := protodesc.NewFile(file, nil)
	if err != nil {
		panic(err)
	}
	return fd.Messages().ByName("FrameworkInfo")
}()

// TestFrameworkInfo reads a FrameworkInfo as a framework sends it in
// SUBSCRIBE and writes it as the master writes it back: the proto2
// defaults of failover_timeout and checkpoint are written, the deprecated
// role is not, and roles (number 12) comes where it is declared.
func TestFrameworkInfo(t *testing.T) {
	in := `{"user":"foo","name":"Example HTTP Framework","roles":["test"],"capabilities":[{"type":"MULTI_ROLE"},{"type":"SOMETHING_NEW"}],"id":{"value":"12220-3440-12532-2345"}}`
	m := dynamicpb.NewMessage(frameworkInfoDesc)
	if err := Unmarshal([]byte(in), m); err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"user":"foo","name":"Example HTTP Framework","id":{"value":"12220-3440-12532-2345"},"failover_timeout":0.0,"checkpoint":false,"roles":["test"],"capabilities":[{"type":"MULTI_ROLE"},{}]}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
	err = Unmarshal([]byte(`{"name":"x","id":{}}`), dynamicpb.NewMessage(frameworkInfoDesc))
	if err == nil || err.Error() != "Missing required fields: user, id.value" {
		t.Errorf("got %v, want the missing user and id.value", err)
	}
}
