package mesosapi

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
)

func uri(value string, change func(*mesosv1.CommandInfo_URI)) *mesosv1.CommandInfo_URI {
	u := &mesosv1.CommandInfo_URI{Value: proto.String(value)}
	if change != nil {
		change(u)
	}
	return u
}

// archives serves a .tar.gz, a .zip, a script and a plain file.
func archives(t *testing.T) *httptest.Server {
	t.Helper()
	var tgz bytes.Buffer
	gz := gzip.NewWriter(&tgz)
	tw := tar.NewWriter(gz)
	body := []byte("from the tarball\n")
	if err := tw.WriteHeader(&tar.Header{Name: "dist/readme.txt", Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	_, _ = tw.Write(body)
	_ = tw.Close()
	_ = gz.Close()
	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	f, _ := zw.Create("zipped.txt")
	_, _ = f.Write([]byte("from the zip\n"))
	_ = zw.Close()
	files := map[string][]byte{
		"/pkg/spark.tgz": tgz.Bytes(), "/pkg/bundle.zip": zb.Bytes(),
		"/bin/run.sh": []byte("#!/bin/sh\necho ran\n"), "/data/notes.tgz": tgz.Bytes(),
		"/data/not-an-archive": []byte("plain text"),
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(b)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestFetchPrologue runs the fetcher with a real shell and the machine's
// wget, tar and unzip, as an executor image would: archives are fetched
// into the sandbox and extracted, an executable is marked and not
// extracted, extract=false keeps an archive whole, output_file names the
// file, and the command then runs in the sandbox, with its argv intact.
func TestFetchPrologue(t *testing.T) {
	for _, tool := range []string{"/bin/sh", "tar", "unzip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s here", tool)
		}
	}
	srv := archives(t)
	prologue, msg := fetchPrologue([]*mesosv1.CommandInfo_URI{
		uri(srv.URL+"/pkg/spark.tgz", nil),
		uri(srv.URL+"/pkg/bundle.zip?version=2", nil),
		uri(srv.URL+"/bin/run.sh", func(u *mesosv1.CommandInfo_URI) { u.Executable = proto.Bool(true) }),
		uri(srv.URL+"/data/notes.tgz", func(u *mesosv1.CommandInfo_URI) {
			u.Extract = proto.Bool(false)
			u.OutputFile = proto.String("kept it's.tgz")
		}),
		// Names that a shell would read as code, or as an option.
		uri(srv.URL+"/data/notes.tgz", func(u *mesosv1.CommandInfo_URI) { u.OutputFile = proto.String("a\"$(echo INJECTED)`echo X`'.tgz") }),
		uri(srv.URL+"/pkg/bundle.zip", func(u *mesosv1.CommandInfo_URI) { u.OutputFile = proto.String("-o.zip") }),
	})
	if msg != "" {
		t.Fatal(msg)
	}
	for _, tc := range []struct {
		name          string
		command, args []string
	}{
		{"shell", []string{"/bin/sh", "-c", "./run.sh && cat dist/readme.txt zipped.txt"}, nil},
		{"argv", []string{"/bin/sh"}, []string{"-c", "./run.sh && cat dist/readme.txt zipped.txt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sandbox := t.TempDir()
			command, args := withPrologue(prologue, tc.command, tc.args)
			cmd := exec.Command(command[0], append(command[1:], args...)...)
			cmd.Env = []string{"MESOS_SANDBOX=" + sandbox, "PATH=" + os.Getenv("PATH")}
			out, err := cmd.CombinedOutput()
			if err != nil || string(out) != "ran\nfrom the tarball\nfrom the zip\n" {
				t.Fatalf("%v, output %q", err, out)
			}
			if fi, err := os.Stat(filepath.Join(sandbox, "kept it's.tgz")); err != nil || fi.Size() == 0 {
				t.Errorf("the archive with extract=false is not kept under its output_file: %v", err)
			}
			if _, err := os.Stat(filepath.Join(sandbox, "spark.tgz")); err != nil {
				t.Errorf("the fetched archive is not in the sandbox: %v", err)
			}
		})
	}
	t.Run("an archive that does not extract stops the command", func(t *testing.T) {
		prologue, _ := fetchPrologue([]*mesosv1.CommandInfo_URI{
			uri(srv.URL+"/data/not-an-archive", func(u *mesosv1.CommandInfo_URI) { u.OutputFile = proto.String("b\"$(echo INJECTED)`echo X`.tgz") })})
		command, args := withPrologue(prologue, []string{"/bin/sh", "-c", "echo started"}, nil)
		cmd := exec.Command(command[0], append(command[1:], args...)...)
		cmd.Env = []string{"MESOS_SANDBOX=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
		out, err := cmd.CombinedOutput()
		// Run, $(echo INJECTED) and `echo X` would not print as written.
		if err == nil || strings.Contains(string(out), "started") || !strings.Contains(string(out), "Failed to extract ./b\"$(echo INJECTED)`echo X`.tgz") {
			t.Fatalf("a failed extraction: %v, output %q; want the command not started, the file named and nothing of its name run", err, out)
		}
	})
	t.Run("a URI that fails stops the command", func(t *testing.T) {
		prologue, _ := fetchPrologue([]*mesosv1.CommandInfo_URI{uri(srv.URL+"/missing.tgz", nil)})
		command, args := withPrologue(prologue, []string{"/bin/sh", "-c", "echo started"}, nil)
		cmd := exec.Command(command[0], append(command[1:], args...)...)
		cmd.Env = []string{"MESOS_SANDBOX=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}
		out, err := cmd.CombinedOutput()
		if err == nil || strings.Contains(string(out), "started") || !strings.Contains(string(out), "Failed to fetch") {
			t.Fatalf("a failed fetch: %v, output %q; want the command not started and the URI named", err, out)
		}
	})
}

func TestFetchPrologueRefuses(t *testing.T) {
	many := make([]*mesosv1.CommandInfo_URI, maxFetchURIs+1)
	for i := range many {
		many[i] = uri("http://example.com/f", nil)
	}
	for name, uris := range map[string][]*mesosv1.CommandInfo_URI{
		"hdfs":          {uri("hdfs://nn/spark.tgz", nil)},
		"a local path":  {uri("/opt/spark.tgz", nil)},
		"no file name":  {uri("http://example.com/", nil)},
		"a nested name": {uri("http://example.com/x", func(u *mesosv1.CommandInfo_URI) { u.OutputFile = proto.String("a/b") })},
		"too many":      many,
	} {
		if p, msg := fetchPrologue(uris); msg == "" || p != "" {
			t.Errorf("%s: fetched with %q", name, p)
		}
	}
	if p, msg := fetchPrologue(nil); p != "" || msg != "" {
		t.Errorf("no URIs: %q %q", p, msg)
	}
}
