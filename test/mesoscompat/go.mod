module github.com/kubemesos/kubemesos/test/mesoscompat

go 1.26.0

require (
	github.com/bufbuild/protocompile v0.14.1
	github.com/google/go-cmp v0.7.0
	github.com/kubemesos/kubemesos v0.0.0
	github.com/mesos/mesos-go v0.0.11
	google.golang.org/protobuf v1.36.12-0.20260120151049-f2248ac996af
)

require (
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/pquerna/ffjson v0.0.0-20190930134022-aa0246cd15f7 // indirect
	golang.org/x/sync v0.22.0 // indirect
)

replace github.com/kubemesos/kubemesos => ../..
