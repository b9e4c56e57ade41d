// Package version reports the version of the kubemesos binary.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is set at link time with -X; "dev" for a plain go build.
var Version = "dev"

// String returns the version line that `kubemesos version` prints.
func String() string {
	commit := "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				commit = s.Value
			}
		}
	}
	return fmt.Sprintf("kubemesos %s (commit %s, %s, %s/%s)", Version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
