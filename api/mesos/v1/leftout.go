package mesosv1

// LeftOutField is a field of Apache Mesos's definition of a message that the
// .proto files of this package leave out. Its number decodes as an unknown
// field, which protobuf keeps and encodes again.
type LeftOutField struct {
	// Message is the full name of the message that declares the field.
	Message string
	// Name is the field's name in Mesos's definition.
	Name string
	// Number is the field's number.
	Number int32
}

// LeftOutFields is the one list of the fields left out of mesos.proto,
// scheduler.proto and executor.proto. The comment at the top of each .proto
// file and README.md repeat it; tests keep them in step, and the conformance
// module test/mesoscompat allows exactly these to be missing.
var LeftOutFields = []LeftOutField{
	{Message: "mesos.v1.ContainerInfo", Name: "linux_info", Number: 8},
	{Message: "mesos.v1.ContainerInfo", Name: "rlimit_info", Number: 9},
	{Message: "mesos.v1.ContainerInfo", Name: "tty_info", Number: 10},
	{Message: "mesos.v1.Volume.Source", Name: "csi_volume", Number: 6},
	{Message: "mesos.v1.scheduler.Call.Subscribe", Name: "offer_constraints", Number: 3},
	{Message: "mesos.v1.scheduler.Call.UpdateFramework", Name: "offer_constraints", Number: 3},
}
