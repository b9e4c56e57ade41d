package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

func newPrepareWorkDirCommand() *cobra.Command {
	var dir, owner string
	cmd := &cobra.Command{
		Use:   "prepare-work-dir --dir DIR --owner UID:GID",
		Short: "Create the agent's work directory on the node and give it to the agent's user",
		Long: `Create the agent's work directory and hand it, with everything in it, to
the user the agent runs as.

The chart runs this as the agent pod's init container, the only step that runs
as root: the work directory is a hostPath, which the kubelet creates owned by
root, and the agent itself runs as a non-root user with no capabilities. It
needs only CAP_CHOWN. The directory is made private to its owner (0700).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			uid, gid, err := parseOwner(owner)
			if err != nil {
				return err
			}
			if dir == "" {
				return errors.New("--dir is required: the agent's --work-dir")
			}
			if err := prepareWorkDir(dir, uid, gid); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is owned by %d:%d\n", dir, uid, gid)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "The agent's work directory (its --work-dir).")
	cmd.Flags().StringVar(&owner, "owner", "65532:65532", "The numeric user and group the agent runs as.")
	return cmd
}

// parseOwner parses "UID:GID": each a 32-bit ID, short of 4294967295,
// which chown takes as "leave it as it is".
func parseOwner(s string) (int, int, error) {
	u, g, ok := strings.Cut(s, ":")
	uid, err1 := strconv.ParseUint(u, 10, 32)
	gid, err2 := strconv.ParseUint(g, 10, 32)
	if !ok || err1 != nil || err2 != nil || uid == math.MaxUint32 || gid == math.MaxUint32 {
		return 0, 0, fmt.Errorf("--owner %q: want numeric UID:GID below 4294967295, such as 65532:65532", s)
	}
	return int(uid), int(gid), nil
}

// prepareWorkDir creates dir (mode 0700) and gives it and its contents to
// uid:gid. A directory that is already theirs is left alone: without
// CAP_DAC_READ_SEARCH and CAP_FOWNER root can neither read nor chmod it, and
// everything in it is the agent's own.
func prepareWorkDir(dir string, uid, gid int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating the work directory: %w", err)
	}
	if owned(dir, uid, gid) {
		return nil
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("making the work directory private: %w", err)
	}
	return filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if owned(path, uid, gid) {
			return nil
		}
		if err := os.Lchown(path, uid, gid); err != nil {
			return fmt.Errorf("giving %s to %d:%d (the init container needs CAP_CHOWN): %w", path, uid, gid, err)
		}
		return nil
	})
}

// owned reports whether path belongs to uid:gid.
func owned(path string, uid, gid int) bool {
	fi, err := os.Lstat(path)
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == uid && int(st.Gid) == gid
}
