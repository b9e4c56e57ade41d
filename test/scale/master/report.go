package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// report prints the tables on stdout and keeps a copy in results.md.
type report struct {
	w    io.Writer
	file *os.File
}

func newReport(dir string) *report {
	f, err := os.Create(filepath.Join(dir, "results.md"))
	if err != nil {
		logf("cannot keep a copy of the results: %v", err)
		return &report{w: os.Stdout}
	}
	return &report{w: io.MultiWriter(os.Stdout, f), file: f}
}

func (r *report) close() error {
	if r.file == nil {
		return nil
	}
	if err := r.file.Close(); err != nil {
		return fmt.Errorf("closing results.md: %w", err)
	}
	return nil
}

func (r *report) printf(format string, args ...any) { fmt.Fprintf(r.w, format, args...) }

// header names the machine, the date and the command.
func (r *report) header(args []string) {
	r.printf("Machine: %s. Date: %s. Go %s.\n", machine(), time.Now().UTC().Format("2006-01-02 15:04 MST"), runtime.Version())
	r.printf("Command: `make bench-master` (%s)\n\n", strings.Join(append([]string{"go run ./test/scale/master"}, args[1:]...), " "))
}

// machine describes this machine: CPU model, cores, memory.
func machine() string {
	model, mem := "unknown CPU", ""
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		s := bufio.NewScanner(f)
		for s.Scan() {
			if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	if kb, err := procField("/proc/meminfo", "MemTotal"); err == nil {
		mem = fmt.Sprintf(", %.0f GiB RAM", float64(kb)/(1<<20))
	}
	return fmt.Sprintf("%d cores, %s%s", runtime.NumCPU(), model, mem)
}

// procField reads a "Name:   123 kB" field of a /proc file, in kB.
func procField(path, name string) (int64, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("reading %s: %w", path, err)
	}
	return parseProcField(string(raw), name)
}

// parseProcField finds "name: <n> kB" in the text of a /proc file.
func parseProcField(text, name string) (int64, error) {
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k != name {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			break
		}
		return strconv.ParseInt(f[0], 10, 64)
	}
	return 0, fmt.Errorf("no %s field", name)
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q is not a count", p)
		}
		out = append(out, n)
	}
	if !sort.IntsAreSorted(out) {
		return nil, fmt.Errorf("%q is not in ascending order", s)
	}
	return out, nil
}

// durations summarises samples.
type durations []time.Duration

func (d durations) sorted() durations {
	s := append(durations(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s
}

// quantile returns the q-quantile (nearest rank) of d, 0 when d is empty.
func (d durations) quantile(q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := d.sorted()
	i := int(q*float64(len(s))+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

// median is the middle sample (the mean of the two middle ones).
func (d durations) median() time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := d.sorted()
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (d durations) worst() time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d.sorted()[len(d)-1]
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

func mib(bytes int64) string { return fmt.Sprintf("%.1f", float64(bytes)/(1<<20)) }

func thousands(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
