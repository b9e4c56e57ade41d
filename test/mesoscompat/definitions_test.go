package mesoscompat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/bufbuild/protocompile"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/reflect/protoreflect"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	executorv1 "github.com/kubemesos/kubemesos/api/mesos/v1/executor"
	schedulerv1 "github.com/kubemesos/kubemesos/api/mesos/v1/scheduler"
)

const (
	mesosGoModule = "github.com/mesos/mesos-go"
	gogoModule    = "github.com/gogo/protobuf"
	mesosGoProtos = mesosGoModule + "/api/v1/lib/"
)

// newerThanMesosGo lists what we define (from Mesos 1.12) that mesos-go
// v0.0.11 (May 2020, about Mesos 1.10) does not. The test fails when the
// difference changes, so that it stays a reviewed list.
var newerThanMesosGo = []string{
	"mesos.v1.MasterInfo.Capability.QUOTA_V2 = 3",
	"mesos.v1.Volume.Source.CSI_VOLUME = 5",
}

// theirName maps a full name of ours to mesos-go's: its files declare the
// packages mesos, mesos.scheduler and mesos.executor instead of mesos.v1....
func theirName(n protoreflect.FullName) protoreflect.FullName {
	if rest, ok := strings.CutPrefix(string(n), "mesos.v1."); ok {
		return protoreflect.FullName("mesos." + rest)
	}
	return n
}

// moduleDirs asks the go command where the modules are.
func moduleDirs(t *testing.T, paths ...string) map[string]string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-m", "-json"}, paths...)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list -m %v: %v\n%s", paths, err, ee.Stderr)
		}
		t.Fatalf("go list -m %v: %v", paths, err)
	}
	dirs := map[string]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var m struct{ Path, Dir string }
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("reading go list output: %v", err)
		}
		if m.Dir == "" {
			t.Fatalf("module %s is not downloaded (run go mod download in test/mesoscompat)", m.Path)
		}
		dirs[m.Path] = m.Dir
	}
	return dirs
}

// mesosGoFiles compiles mesos-go's scheduler.proto and executor.proto (and
// what they import) from the module cache.
func mesosGoFiles(t *testing.T) []protoreflect.FileDescriptor {
	t.Helper()
	dirs := moduleDirs(t, mesosGoModule, gogoModule)
	open := func(path string) (io.ReadCloser, error) {
		for mod, dir := range dirs {
			if rest, ok := strings.CutPrefix(path, mod+"/"); ok {
				return os.Open(filepath.Join(dir, filepath.FromSlash(rest)))
			}
		}
		return nil, fmt.Errorf("%s: %w", path, os.ErrNotExist)
	}
	compiler := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{Accessor: open}),
	}
	files, err := compiler.Compile(context.Background(),
		mesosGoProtos+"scheduler/scheduler.proto", mesosGoProtos+"executor/executor.proto")
	if err != nil {
		t.Fatalf("compiling mesos-go's .proto files: %v", err)
	}
	var fds []protoreflect.FileDescriptor
	for _, f := range files {
		fds = append(fds, f)
		for i := 0; i < f.Imports().Len(); i++ {
			fds = append(fds, f.Imports().Get(i).FileDescriptor)
		}
	}
	return fds
}

// index maps the full name of every message and enum in files to it.
func index(files []protoreflect.FileDescriptor) map[protoreflect.FullName]protoreflect.Descriptor {
	idx := map[protoreflect.FullName]protoreflect.Descriptor{}
	var addMessages func(ms protoreflect.MessageDescriptors)
	addEnums := func(es protoreflect.EnumDescriptors) {
		for i := 0; i < es.Len(); i++ {
			idx[es.Get(i).FullName()] = es.Get(i)
		}
	}
	addMessages = func(ms protoreflect.MessageDescriptors) {
		for i := 0; i < ms.Len(); i++ {
			m := ms.Get(i)
			idx[m.FullName()] = m
			addEnums(m.Enums())
			addMessages(m.Messages())
		}
	}
	for _, f := range files {
		addEnums(f.Enums())
		addMessages(f.Messages())
	}
	return idx
}

// deprecated reports whether f is marked deprecated.
func deprecated(f protoreflect.FieldDescriptor) bool {
	o, ok := f.Options().(*descriptorpb.FieldOptions)
	return ok && o.GetDeprecated()
}

// typeName is the message or enum type of f (as mesos-go names it), or its
// scalar kind.
func typeName(f protoreflect.FieldDescriptor) string {
	switch {
	case f.Message() != nil:
		return string(theirName(f.Message().FullName()))
	case f.Enum() != nil:
		return string(theirName(f.Enum().FullName()))
	default:
		return f.Kind().String()
	}
}

// defaultOf is f's explicit default as text, or "" without one.
func defaultOf(f protoreflect.FieldDescriptor) string {
	if !f.HasDefault() {
		return ""
	}
	if f.Enum() != nil {
		return string(f.DefaultEnumValue().Name())
	}
	return fmt.Sprint(f.Default().Interface())
}

// TestDefinitionsMatchMesosGo checks every message and enum we define against
// mesos-go's definition of it: each field of ours that mesos-go has must have
// the same name, type, label and default; each field mesos-go has must be
// ours or listed in mesosv1.LeftOutFields; each enum value must have the same
// number. What mesos-go lacks (it is older) must be newerThanMesosGo.
func TestDefinitionsMatchMesosGo(t *testing.T) {
	theirs := index(mesosGoFiles(t))
	ours := index([]protoreflect.FileDescriptor{
		mesosv1.File_mesos_v1_mesos_proto,
		schedulerv1.File_mesos_v1_scheduler_scheduler_proto,
		executorv1.File_mesos_v1_executor_executor_proto,
	})
	leftOut := map[string]bool{}
	for _, f := range mesosv1.LeftOutFields {
		leftOut[fmt.Sprintf("%s.%d", f.Message, f.Number)] = true
	}
	var newer []string
	names := make([]protoreflect.FullName, 0, len(ours))
	for n := range ours {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		d := ours[name]
		td, ok := theirs[theirName(name)]
		if !ok {
			newer = append(newer, string(name))
			continue
		}
		switch d := d.(type) {
		case protoreflect.MessageDescriptor:
			tm, ok := td.(protoreflect.MessageDescriptor)
			if !ok {
				t.Errorf("%s is a message here but not in mesos-go", name)
				continue
			}
			newer = append(newer, compareFields(t, d, tm, leftOut)...)
		case protoreflect.EnumDescriptor:
			te, ok := td.(protoreflect.EnumDescriptor)
			if !ok {
				t.Errorf("%s is an enum here but not in mesos-go", name)
				continue
			}
			newer = append(newer, compareValues(t, d, te)...)
		}
	}
	// The left-out fields that mesos-go knows must carry the listed names.
	for _, f := range mesosv1.LeftOutFields {
		tm, ok := theirs[theirName(protoreflect.FullName(f.Message))].(protoreflect.MessageDescriptor)
		if !ok {
			continue
		}
		if tf := tm.Fields().ByNumber(protoreflect.FieldNumber(f.Number)); tf != nil && string(tf.Name()) != f.Name {
			t.Errorf("left out %s field %d is %q in mesos-go, listed as %q", f.Message, f.Number, tf.Name(), f.Name)
		}
	}
	if diff := cmp.Diff(newerThanMesosGo, newer); diff != "" {
		t.Errorf("what mesos-go lacks changed; review and update newerThanMesosGo (-listed +found):\n%s", diff)
	}
}

// compareFields checks the fields of our message m against mesos-go's tm and
// returns those of ours that mesos-go lacks.
func compareFields(t *testing.T, m, tm protoreflect.MessageDescriptor, leftOut map[string]bool) []string {
	t.Helper()
	var newer []string
	fields := m.Fields()
	for i := 0; i < fields.Len(); i++ {
		f := fields.Get(i)
		tf := tm.Fields().ByNumber(f.Number())
		if tf == nil {
			newer = append(newer, fmt.Sprintf("%s = %d", f.FullName(), f.Number()))
			continue
		}
		// Deprecated matters on the wire: Mesos's JSON leaves out an unset
		// deprecated field's default.
		type shape struct {
			Name, Label, Type, Default string
			Deprecated                 bool
		}
		got := shape{string(f.Name()), f.Cardinality().String(), typeName(f), defaultOf(f), deprecated(f)}
		want := shape{string(tf.Name()), tf.Cardinality().String(), typeName(tf), defaultOf(tf), deprecated(tf)}
		if got != want {
			t.Errorf("%s field %d: ours %+v, mesos-go %+v", m.FullName(), f.Number(), got, want)
		}
	}
	tfields := tm.Fields()
	for i := 0; i < tfields.Len(); i++ {
		tf := tfields.Get(i)
		if fields.ByNumber(tf.Number()) == nil && !leftOut[fmt.Sprintf("%s.%d", m.FullName(), tf.Number())] {
			t.Errorf("%s lacks mesos-go's field %s = %d and does not list it in mesosv1.LeftOutFields",
				m.FullName(), tf.Name(), tf.Number())
		}
	}
	return newer
}

// compareValues checks the values of our enum e against mesos-go's te and
// returns those of ours that mesos-go lacks.
func compareValues(t *testing.T, e, te protoreflect.EnumDescriptor) []string {
	t.Helper()
	var newer []string
	values := e.Values()
	for i := 0; i < values.Len(); i++ {
		v := values.Get(i)
		tv := te.Values().ByName(v.Name())
		if tv == nil {
			newer = append(newer, fmt.Sprintf("%s = %d", v.FullName(), v.Number()))
			continue
		}
		if tv.Number() != v.Number() {
			t.Errorf("%s = %d, mesos-go has %d", v.FullName(), v.Number(), tv.Number())
		}
	}
	tvalues := te.Values()
	for i := 0; i < tvalues.Len(); i++ {
		if tv := tvalues.Get(i); values.ByName(tv.Name()) == nil {
			t.Errorf("%s lacks mesos-go's value %s = %d", e.FullName(), tv.Name(), tv.Number())
		}
	}
	return newer
}
