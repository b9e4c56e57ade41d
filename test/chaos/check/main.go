// Command check judges a fault campaign's record again: it reads the
// record.jsonl and writes.json that `make chaos` left in its directory
// (CHAOS_DIR), runs every invariant of test/chaos/invariants on them and
// prints the report. It exits 1 when an invariant was broken.
//
//	go run ./test/chaos/check .chaos
//
// It judges every Task and Framework of the record, and the master writes
// of writes.json (those since the run started). The limits default to the
// settings the e2e install gives the master.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kubemesos/kubemesos/test/chaos/invariants"
	"github.com/kubemesos/kubemesos/test/chaos/record"
)

func main() {
	var limits invariants.Limits
	flag.IntVar(&limits.AgentRemovalLimit, "agent-removal-limit", invariants.Campaign.AgentRemovalLimit, "the master's --agent-removal-rate-limit: agents per period (0: no bound)")
	flag.DurationVar(&limits.AgentRemovalPeriod, "agent-removal-period", invariants.Campaign.AgentRemovalPeriod, "the period of --agent-removal-rate-limit")
	flag.DurationVar(&limits.LeaseDuration, "lease-duration", invariants.Campaign.LeaseDuration, "the master's --leader-election-lease-duration (0: the record's)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: %s [flags] DIR\n\nJudges the record.jsonl and writes.json of a fault campaign's run in DIR again.\n\n", filepath.Base(os.Args[0]))
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	violations, err := check(flag.Arg(0), limits, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "check:", err)
		os.Exit(2)
	}
	if violations > 0 {
		os.Exit(1)
	}
}

// check reads dir's record and writes, judges them under limits and
// writes the report to out. It returns how many violations it found.
func check(dir string, limits invariants.Limits, out io.Writer) (int, error) {
	f, err := os.Open(filepath.Join(dir, "record.jsonl"))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	entries, err := record.Read(f)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", f.Name(), err)
	}
	var writes []record.Write
	raw, err := os.ReadFile(filepath.Join(dir, "writes.json"))
	switch {
	case errors.Is(err, os.ErrNotExist):
		fmt.Fprintln(out, "no writes.json (the run stopped before its check): the master's writes are not judged")
	case err != nil:
		return 0, err
	default:
		if err := json.Unmarshal(raw, &writes); err != nil {
			return 0, fmt.Errorf("reading %s: %w", filepath.Join(dir, "writes.json"), err)
		}
	}
	report := invariants.Check(entries, writes, limits)
	fmt.Fprintln(out, report.Summary())
	fmt.Fprintln(out)
	fmt.Fprint(out, report.Markdown())
	return len(report.Violations), nil
}
