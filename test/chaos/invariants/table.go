package invariants

import (
	"fmt"
	"strings"
	"time"
)

// maxListed is how many violations Table and Markdown list; the counts
// cover them all.
const maxListed = 50

// Summary is the one line a run prints: what was checked and how many
// violations were found.
func (r Report) Summary() string {
	return fmt.Sprintf("checked %s (%s), %s (%s), %s, %s (%s), ordered by %s: %s",
		plural(r.Tasks, "task"), plural(r.Transitions, "state change"), plural(r.Agents, "agent"), plural(r.AgentIDs, "agentID"),
		plural(r.Frameworks, "framework"), plural(r.Writes, "master write"), plural(r.LeaseTakeovers, "Lease takeover"),
		r.OrderedBy, plural(len(r.Violations), "violation"))
}

// plural is n and noun, with an "s" unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// Table is the report as plain text for a terminal: the summary line, one
// row per invariant (checked, violations), the faults by kind, the first
// violations and the notes.
func (r Report) Table() string {
	var b strings.Builder
	b.WriteString(r.Summary() + "\n\n")
	w := len("INVARIANT")
	for _, res := range r.Invariants {
		w = max(w, len(res.Invariant))
	}
	fmt.Fprintf(&b, "%-*s  %9s  %10s\n", w, "INVARIANT", "CHECKED", "VIOLATIONS")
	for _, res := range r.Invariants {
		fmt.Fprintf(&b, "%-*s  %9d  %10d\n", w, res.Invariant, res.Checked, res.Violations)
	}
	if len(r.Faults) > 0 {
		w = len("FAULT")
		for _, f := range r.Faults {
			w = max(w, len(f.Kind))
		}
		fmt.Fprintf(&b, "\n%-*s  %9s  %10s\n", w, "FAULT", "APPLIED", "FAILED")
		for _, f := range r.Faults {
			fmt.Fprintf(&b, "%-*s  %9d  %10d\n", w, f.Kind, f.Applied, f.Failed)
		}
	}
	if len(r.Violations) > 0 {
		b.WriteString("\nVIOLATIONS\n")
		for i, v := range r.Violations {
			if i == maxListed {
				fmt.Fprintf(&b, "... and %d more\n", len(r.Violations)-maxListed)
				break
			}
			fmt.Fprintf(&b, "%s %s %s: %s\n", v.Invariant, formatAt(v.At), v.Subject, v.Message)
		}
	}
	if len(r.Notes) > 0 {
		b.WriteString("\nNOTES\n")
		for _, n := range r.Notes {
			b.WriteString(n + "\n")
		}
	}
	return b.String()
}

// Markdown is the report as Markdown, for docs/reliability.md: the same
// tables and lists as Table.
func (r Report) Markdown() string {
	var b strings.Builder
	b.WriteString(r.Summary() + ".\n\n")
	b.WriteString("| Invariant | Checked | Violations |\n|---|---:|---:|\n")
	for _, res := range r.Invariants {
		fmt.Fprintf(&b, "| %s | %d | %d |\n", res.Invariant, res.Checked, res.Violations)
	}
	if len(r.Faults) > 0 {
		b.WriteString("\n| Fault | Applied | Failed |\n|---|---:|---:|\n")
		for _, f := range r.Faults {
			fmt.Fprintf(&b, "| %s | %d | %d |\n", f.Kind, f.Applied, f.Failed)
		}
	}
	if len(r.Violations) > 0 {
		b.WriteString("\nViolations:\n\n")
		for i, v := range r.Violations {
			if i == maxListed {
				fmt.Fprintf(&b, "- … and %d more\n", len(r.Violations)-maxListed)
				break
			}
			fmt.Fprintf(&b, "- **%s** %s %s: %s\n", v.Invariant, formatAt(v.At), markdownText(v.Subject), markdownText(v.Message))
		}
	}
	if len(r.Notes) > 0 {
		b.WriteString("\nNotes:\n\n")
		for _, n := range r.Notes {
			fmt.Fprintf(&b, "- %s\n", markdownText(n))
		}
	}
	return b.String()
}

func formatAt(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// markdownText keeps text from a record from being read as Markdown: it
// escapes the characters that would start markup, and keeps it on one line.
func markdownText(s string) string {
	r := strings.NewReplacer("\\", "\\\\", "*", "\\*", "_", "\\_", "`", "\\`", "|", "\\|", "<", "&lt;", "[", "\\[", "\n", " ")
	return r.Replace(s)
}
