package mesosapi

import (
	"net/url"
	"path"
	"strings"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
)

// The Mesos fetcher: before a task's command (or an executor) starts, Mesos
// fetches each of CommandInfo.uris into the sandbox, extracts archives and
// marks executables. kubemesos does it in the container itself, from its
// sandbox (the pod's working directory, $MESOS_SANDBOX), with the image's
// own wget (or curl), tar and unzip: a prologue that the command runs behind,
// as the executor's token prologue is. A fetch that fails ends the container
// before the command starts, with the URI in the container's log, so the
// task fails with its exit code.

// fetchSchemes are the URI schemes the prologue fetches; Mesos's fetcher
// takes more (hdfs, s3 through a Hadoop client), which a container image
// rarely has.
var fetchSchemes = map[string]bool{"http": true, "https": true, "ftp": true}

// archiveSuffixes are what the fetcher extracts, and how.
var archiveSuffixes = []struct{ suffix, extract string }{
	{".tar.gz", "tar -xzf"}, {".tgz", "tar -xzf"}, {".tar.bz2", "tar -xjf"}, {".tbz2", "tar -xjf"},
	{".tar.xz", "tar -xJf"}, {".txz", "tar -xJf"}, {".tar", "tar -xf"}, {".zip", "unzip -o -q"},
}

// maxFetchURIs bounds the URIs of one command.
const maxFetchURIs = 32

// fetchPrologue is the shell that fetches uris into the sandbox, or why
// kubemesos cannot fetch them ("" then for the prologue). No URIs: "", "".
func fetchPrologue(uris []*mesosv1.CommandInfo_URI) (string, string) {
	if len(uris) == 0 {
		return "", ""
	}
	if len(uris) > maxFetchURIs {
		return "", "kubemesos fetches at most 32 URIs of a command"
	}
	var b strings.Builder
	b.WriteString(`cd "${MESOS_SANDBOX:-.}" || exit 1` + "\n")
	b.WriteString(`kubemesos_fetch() { if command -v wget >/dev/null 2>&1; then wget -q -O "$2" "$1"; else curl -fsSL -o "$2" "$1"; fi || { echo "Failed to fetch '$1'" >&2; exit 1; }; }` + "\n")
	for _, u := range uris {
		raw := u.GetValue()
		parsed, err := url.Parse(raw)
		if err != nil || !fetchSchemes[strings.ToLower(parsed.Scheme)] || parsed.Host == "" {
			return "", "kubemesos fetches http, https and ftp URIs into the sandbox; '" + raw + "' is not one"
		}
		name := u.GetOutputFile()
		if name == "" {
			name = path.Base(parsed.Path)
		}
		if name == "" || name == "." || name == "/" || name == ".." || strings.Contains(name, "/") {
			return "", "cannot name the file of URI '" + raw + "' in the sandbox: set output_file"
		}
		// "./" keeps a name that starts with "-" from being an option.
		file := shellQuote("./" + name)
		b.WriteString("kubemesos_fetch " + shellQuote(raw) + " " + file + "\n")
		switch {
		case u.GetExecutable():
			// As Mesos: an executable is not extracted.
			b.WriteString("chmod +x " + file + " || exit 1\n")
		case u.Extract == nil || u.GetExtract():
			for _, a := range archiveSuffixes {
				if strings.HasSuffix(strings.ToLower(name), a.suffix) {
					b.WriteString(a.extract + " " + file + " || { echo Failed to extract " + file + " >&2; exit 1; }\n")
					break
				}
			}
		}
	}
	return b.String(), ""
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// withPrologue runs a command line behind a shell prologue: a shell command
// (/bin/sh -c value) gets the prologue first, on lines of its own, so that
// the command keeps its meaning whatever it holds; an executable with
// arguments is run by the shell after the prologue with its argv intact
// (exec "$0" "$@").
func withPrologue(prologue string, command, args []string) ([]string, []string) {
	if len(command) == 3 && command[0] == "/bin/sh" && command[1] == "-c" && len(args) == 0 {
		return []string{"/bin/sh", "-c", prologue + command[2]}, nil
	}
	argv := append(append([]string(nil), command...), args...)
	return []string{"/bin/sh", "-c", prologue + `exec "$0" "$@"`}, argv
}
