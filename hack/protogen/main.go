// Command protogen compiles .proto files and writes their Go code, as protoc
// with protoc-gen-go would, but without protoc: the files are parsed and
// linked by github.com/bufbuild/protocompile and the code is written by the
// generator inside protoc-gen-go, at the google.golang.org/protobuf version
// that the main module uses at run time.
//
// Usage:
//
//	protogen -proto_path api -go_out api mesos/v1/mesos.proto ...
//
// The file names are relative to -proto_path, and so are their imports. Each
// .pb.go file is written beside its .proto file under -go_out (protoc-gen-go's
// paths=source_relative).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/protoutil"
	gengo "google.golang.org/protobuf/cmd/protoc-gen-go/internal_gengo"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/pluginpb"
)

func main() {
	protoPath := flag.String("proto_path", ".", "directory that the .proto file names and their imports are relative to")
	goOut := flag.String("go_out", ".", "directory to write the .pb.go files under")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "protogen: no .proto files given")
		os.Exit(2)
	}
	if err := run(*protoPath, *goOut, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "protogen:", err)
		os.Exit(1)
	}
}

// run compiles names (relative to protoPath) and writes their Go code under
// goOut.
func run(protoPath, goOut string, names []string) error {
	req, err := request(protoPath, names)
	if err != nil {
		return err
	}
	gen, err := protogen.Options{}.New(req)
	if err != nil {
		return fmt.Errorf("preparing the generator: %w", err)
	}
	gen.SupportedFeatures = gengo.SupportedFeatures
	gen.SupportedEditionsMinimum = gengo.SupportedEditionsMinimum
	gen.SupportedEditionsMaximum = gengo.SupportedEditionsMaximum
	for _, f := range gen.Files {
		if f.Generate {
			gengo.GenerateFile(gen, f)
		}
	}
	resp := gen.Response()
	if resp.Error != nil {
		return fmt.Errorf("generating Go code: %s", resp.GetError())
	}
	for _, f := range resp.File {
		path := filepath.Join(goOut, filepath.FromSlash(f.GetName()))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("creating the directory of %s: %w", path, err)
		}
		if err := os.WriteFile(path, []byte(f.GetContent()), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	return nil
}

// request compiles the files and builds the request that protoc would hand a
// plugin: every file with its imports first, and the comments kept.
func request(protoPath string, names []string) (*pluginpb.CodeGeneratorRequest, error) {
	compiler := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: []string{protoPath}}),
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	files, err := compiler.Compile(context.Background(), names...)
	if err != nil {
		return nil, fmt.Errorf("compiling %v: %w", names, err)
	}
	req := &pluginpb.CodeGeneratorRequest{
		FileToGenerate: names,
		Parameter:      ptr("paths=source_relative"),
	}
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := 0; i < imports.Len(); i++ {
			add(imports.Get(i).FileDescriptor)
		}
		req.ProtoFile = append(req.ProtoFile, protoutil.ProtoFromFileDescriptor(fd))
		if isSource(fd, names) {
			req.SourceFileDescriptors = append(req.SourceFileDescriptors, protoutil.ProtoFromFileDescriptor(fd))
		}
	}
	for _, f := range files {
		add(f)
	}
	return req, nil
}

// isSource reports whether fd is one of the files asked for.
func isSource(fd protoreflect.FileDescriptor, names []string) bool {
	for _, n := range names {
		if fd.Path() == n {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }
