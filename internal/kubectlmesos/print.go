package kubectlmesos

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// Width is the width that text output keeps to.
const Width = 80

// Output formats of -o.
const (
	// OutputText is the default: tables and wrapped text.
	OutputText = ""
	// OutputWide adds columns to the tables.
	OutputWide = "wide"
	// OutputJSON prints the document as indented JSON.
	OutputJSON = "json"
	// OutputYAML prints the document as YAML.
	OutputYAML = "yaml"
)

// validOutput checks -o.
func validOutput(o string) error {
	switch o {
	case OutputText, OutputWide, OutputJSON, OutputYAML:
		return nil
	}
	return fmt.Errorf("unknown output format %q: use -o json, -o yaml or -o wide, or leave -o out for a table", o)
}

// printDocument writes v as JSON or YAML; it reports false for the text
// formats, which the caller prints itself.
func printDocument(w io.Writer, format string, v any) (bool, error) {
	switch format {
	case OutputJSON:
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return true, fmt.Errorf("encoding JSON: %w", err)
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return true, err
	case OutputYAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return true, fmt.Errorf("encoding YAML: %w", err)
		}
		_, err = w.Write(b)
		return true, err
	}
	return false, nil
}

// wrap breaks s into lines of at most width columns, the first starting
// with first and the rest with indent. A word longer than a line stays
// whole.
func wrap(s, first, indent string, width int) string {
	var b strings.Builder
	line := first
	empty := true
	for _, word := range strings.Fields(s) {
		if !empty && len(line)+1+len(word) > width {
			b.WriteString(line + "\n")
			line, empty = indent, true
		}
		if !empty {
			line += " "
		}
		line += word
		empty = false
	}
	b.WriteString(line + "\n")
	return b.String()
}

// PrintExplanation writes an Explanation as text: the subject, each reason
// numbered with its details, then the notes, wrapped at Width.
func PrintExplanation(w io.Writer, e Explanation) error {
	var b strings.Builder
	head := fmt.Sprintf("%s %s/%s", e.Subject.Kind, e.Subject.Namespace, e.Subject.Name)
	if e.Subject.Phase != "" {
		head += " (" + e.Subject.Phase + ")"
	}
	b.WriteString(head + "\n")
	for i, r := range e.Reasons {
		num := fmt.Sprintf("%d. ", i+1)
		b.WriteString(wrap(fmt.Sprintf("[%s] %s", r.Rule, r.Message), num, "   ", Width))
		for _, d := range r.Details {
			b.WriteString(wrap(d, "   - ", "     ", Width))
		}
	}
	for _, n := range e.Notes {
		b.WriteString(wrap(n, "Note: ", "      ", Width))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// table is a tabwriter with kubectl's spacing.
func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 8, 2, ' ', 0) }

func share(f float64) string { return strconv.FormatFloat(f, 'f', 3, 64) }

func percent(f float64) string { return strconv.FormatFloat(100*f, 'f', 0, 64) + "%" }

// PrintStatus writes a Status as three tables: agents, frameworks, roles.
func PrintStatus(w io.Writer, s Status) error {
	tw := table(w)
	fmt.Fprintln(tw, "PHASE\tAGENTS\tRESOURCE\tTOTAL\tALLOCATED\tOFFERED\tFREE")
	if len(s.Agents) == 0 {
		fmt.Fprintln(tw, "(none)\t0\t\t\t\t\t")
	}
	for _, a := range s.Agents {
		phase := a.Phase
		if phase == "" {
			phase = "NotAdmitted"
		}
		for i, n := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if i == 0 {
				fmt.Fprintf(tw, "%s\t%d\t", phase, a.Count)
			} else {
				fmt.Fprint(tw, "\t\t")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", n, quantity(a.Total, n), quantity(a.Allocated, n), quantity(a.Offered, n), quantity(a.Free, n))
		}
	}
	fmt.Fprintln(tw)
	if err := tw.Flush(); err != nil {
		return err
	}
	tw = table(w)
	fmt.Fprintln(tw, "NAMESPACE\tFRAMEWORK\tROLE\tPHASE\tSHARE\tRUNNING/TASKS\tOFFERS")
	suppressed := false
	for _, f := range s.Frameworks {
		phase := f.Phase
		if phase == "" {
			phase = "-"
		}
		if f.Suppressed {
			phase += "*"
			suppressed = true
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d\t%d\n", f.Namespace, f.Name, f.Role, phase, share(f.DominantShare), f.TasksRunning, f.TasksTotal, f.OutstandingOffers)
	}
	if len(s.Frameworks) == 0 {
		fmt.Fprintln(tw, "(none)\t\t\t\t\t\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if suppressed {
		fmt.Fprintln(w, "* suppresses offers (spec.suppressOffers)")
	}
	fmt.Fprintln(w)
	tw = table(w)
	weight := func(r RoleSummary) string {
		if !s.WeightsKnown {
			return strconv.FormatFloat(r.Weight, 'g', -1, 64) + "?"
		}
		return strconv.FormatFloat(r.Weight, 'g', -1, 64)
	}
	fmt.Fprintln(tw, "ROLE\tWEIGHT\tFRAMEWORKS\tSHARE\tWEIGHTED SHARE")
	for _, r := range s.Roles {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", r.Name, weight(r), r.Frameworks, share(r.Share), share(r.WeightedShare))
	}
	if len(s.Roles) == 0 {
		fmt.Fprintln(tw, "(none)\t\t\t\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return printNotes(w, s.Notes)
}

func printNotes(w io.Writer, notes []string) error {
	for _, n := range notes {
		if _, err := io.WriteString(w, wrap(n, "Note: ", "      ", Width)); err != nil {
			return err
		}
	}
	return nil
}

// PrintOffers writes the offers as a table; allNamespaces adds the
// namespace column, wide the offer's name and agentID.
func PrintOffers(w io.Writer, l OfferList, allNamespaces, wide bool, now time.Time) error {
	tw := table(w)
	cols := []string{"FRAMEWORK", "AGENT", "CPU", "MEMORY", "AGE"}
	if allNamespaces {
		cols = append([]string{"NAMESPACE"}, cols...)
	}
	if wide {
		cols = append(cols, "OFFER", "AGENT-ID")
	}
	fmt.Fprintln(tw, strings.Join(cols, "\t"))
	for _, o := range l.Items {
		row := []string{o.Framework, o.Agent, quantity(o.Resources, corev1.ResourceCPU), quantity(o.Resources, corev1.ResourceMemory),
			age(now, now.Add(-time.Duration(o.AgeSeconds)*time.Second))}
		if allNamespaces {
			row = append([]string{o.Namespace}, row...)
		}
		if wide {
			row = append(row, o.Name, o.AgentID)
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(l.Items) == 0 {
		_, err := fmt.Fprintln(w, "No outstanding offers.")
		return err
	}
	return nil
}

// PrintTop writes usage by framework, then by role.
func PrintTop(w io.Writer, t Top, allNamespaces bool) error {
	tw := table(w)
	cols := "FRAMEWORK\tROLE\tCPU\tCPU%\tMEMORY\tMEMORY%\tSHARE"
	if allNamespaces {
		cols = "NAMESPACE\t" + cols
	}
	fmt.Fprintln(tw, cols)
	for _, u := range t.Frameworks {
		if allNamespaces {
			fmt.Fprintf(tw, "%s\t", u.Namespace)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Name, u.Role, quantity(u.Allocated, corev1.ResourceCPU), percent(u.CPUFraction),
			quantity(u.Allocated, corev1.ResourceMemory), percent(u.MemoryFraction), share(u.Share))
	}
	fmt.Fprintln(tw)
	if err := tw.Flush(); err != nil {
		return err
	}
	tw = table(w)
	fmt.Fprintln(tw, "ROLE\tCPU\tCPU%\tMEMORY\tMEMORY%\tSHARE")
	for _, u := range t.Roles {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Name, quantity(u.Allocated, corev1.ResourceCPU), percent(u.CPUFraction),
			quantity(u.Allocated, corev1.ResourceMemory), percent(u.MemoryFraction), share(u.Share))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "Capacity of the active agents: %s\n", formatResources(t.Capacity))
	return printNotes(w, t.Notes)
}
