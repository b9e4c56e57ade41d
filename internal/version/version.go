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

// AppVersion is the release this source tree makes: the Helm chart's
// appVersion, and so the tag of the kubemesos image that the chart, the
// samples and the MonteCarloArea example use by default.
const AppVersion = "0.1.0"

// Image is the kubemesos image of this release.
const Image = "kubemesos/kubemesos:" + AppVersion
