package mesosapi

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubemesos/kubemesos/agent/executorapi"
	mesosv1 "github.com/kubemesos/kubemesos/api/mesos/v1"
	kmv1 "github.com/kubemesos/kubemesos/api/v1alpha1"
	"github.com/kubemesos/kubemesos/internal/mesoswire"
)

// EnvMesosExecutorToken is where a Mesos executor reads its token, once,
// as it starts. kubemesos mounts the token as a file instead, whose path
// the agent puts in executorapi.EnvTokenFile on every executor pod.
const EnvMesosExecutorToken = "MESOS_EXECUTOR_AUTHENTICATION_TOKEN"

// tokenPrologue sets EnvMesosExecutorToken from the token file, or ends
// the shell when the file cannot be read. It takes a line of its own, so
// that the executor's shell command keeps its meaning whatever it holds.
const tokenPrologue = EnvMesosExecutorToken + `="$(cat "$` + executorapi.EnvTokenFile + `")" || exit 1; export ` + EnvMesosExecutorToken + "\n"

// WithExecutorToken wraps the command line of a custom executor (as
// commandOf maps it) so that the executor starts with its token in
// EnvMesosExecutorToken, read from the file named by executorapi.EnvTokenFile,
// as a Mesos agent hands it over. A shell command (/bin/sh -c value) gets
// the reading first; an executable with arguments is run by the shell
// after the reading, with its argv intact (exec "$0" "$@"). The token's
// value never appears in the spec. The image needs /bin/sh, as a Mesos
// shell command does.
func WithExecutorToken(command, args []string) ([]string, []string) {
	return withPrologue(tokenPrologue, command, args)
}

// executorFor maps the ExecutorInfo of a TaskInfo, checked as Mesos checks
// it for LAUNCH, onto a Task's executor, or says why it cannot.
func executorFor(ei *mesosv1.ExecutorInfo, frameworkID, defaultImage string) (*kmv1.ExecutorInfo, string) {
	id := ei.GetExecutorId().GetValue()
	switch {
	case ei.Type != nil && ei.GetType() != mesosv1.ExecutorInfo_CUSTOM:
		return nil, "'ExecutorInfo.type' must be 'CUSTOM'"
	case ei.Command == nil:
		return nil, "'ExecutorInfo.command' must be set"
	case mesoswire.ValidateID(id) != "":
		return nil, mesoswire.ValidateID(id)
	case ei.FrameworkId != nil && ei.GetFrameworkId().GetValue() != frameworkID:
		return nil, "ExecutorInfo has an invalid FrameworkID (Actual: " + ei.GetFrameworkId().GetValue() + " vs Expected: " + frameworkID + ")"
	}
	res, msg := resourcesFor(ei.GetResources(), "the executor")
	if msg != "" {
		return nil, msg
	}
	cmd, msg := commandOf(ei.GetCommand(), ei.GetContainer(), defaultImage)
	if msg != "" {
		return nil, msg
	}
	if len(cmd.Command) == 0 {
		return nil, "'ExecutorInfo.command.value' must be set"
	}
	out := &kmv1.ExecutorInfo{ExecutorID: id, Image: cmd.Image, Env: cmd.Env}
	out.Command, out.Args = WithExecutorToken(cmd.Command, cmd.Args)
	if len(res) > 0 {
		out.Resources = res
	}
	return out, ""
}

// executorCheck holds, for one ACCEPT, the executors its tasks name and
// those the framework's unfinished Tasks run, to check that the tasks of
// one executor ID carry the same ExecutorInfo, as Mesos does.
type executorCheck struct {
	s     *Server
	st    *stream
	known map[string]*kmv1.ExecutorInfo
	read  bool
}

// compatible reports why e cannot run beside the executor of the same ID
// that the framework runs or that an earlier task of the call names, or
// "" when it can; it then stands for its ID.
func (c *executorCheck) compatible(ctx context.Context, e *kmv1.ExecutorInfo) (string, error) {
	if !c.read {
		c.known = map[string]*kmv1.ExecutorInfo{}
		var l kmv1.TaskList
		// The API server, not the cache: the cache keeps no command line.
		if err := c.s.reader.List(ctx, &l, client.InNamespace(c.st.namespace), client.MatchingLabels{kmv1.LabelFramework: c.st.name}); err != nil {
			return "", fmt.Errorf("listing the tasks of Framework %s/%s: %w", c.st.namespace, c.st.name, err)
		}
		for i := range l.Items {
			t := &l.Items[i]
			if t.Spec.Executor != nil && !t.Status.State.IsTerminal() && string(t.Spec.Framework) == c.st.name {
				c.known[t.Spec.Executor.ExecutorID] = t.Spec.Executor
			}
		}
		c.read = true
	}
	if have, ok := c.known[e.ExecutorID]; ok && !equality.Semantic.DeepEqual(have, e) {
		return "ExecutorInfo is not compatible with existing ExecutorInfo with same ExecutorID (" + e.ExecutorID + ")", nil
	}
	c.known[e.ExecutorID] = e
	return "", nil
}
