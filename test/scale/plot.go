package scale

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
)

// series is one line of a chart.
type series struct {
	name, color string
	x, y        []float64
}

// colors of the kinds in the charts.
var kindColors = map[Kind]string{KindExecutor: "#1f77b4", KindCommand: "#2ca02c", KindPods: "#d62728"}

// SVG draws two line charts side by side: throughput and p99 latency
// against the number of nodes, one line per kind of run.
func (r *Report) SVG() []byte {
	var rate, p99 []series
	for _, k := range Kinds {
		a := series{name: string(k), color: kindColors[k]}
		b := a
		for _, s := range r.Sizes {
			if x := s.Runs[k]; x != nil {
				a.x, a.y = append(a.x, float64(s.Nodes)), append(a.y, x.Rate())
				b.x, b.y = append(b.x, float64(s.Nodes)), append(b.y, float64(x.Percentile(.99).Milliseconds()))
			}
		}
		rate, p99 = append(rate, a), append(p99, b)
	}
	const w, h = 960, 400
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&buf, `<rect width="%d" height="%d" fill="white"/>`+"\n", w, h)
	chart(&buf, 0, "Throughput: tasks (pods) finished per second", "tasks/s", rate)
	chart(&buf, w/2, "p99 from creation to TASK_RUNNING (Running)", "ms", p99)
	// The legend, under both charts.
	for i, k := range Kinds {
		x := 90 + i*260
		fmt.Fprintf(&buf, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>`+"\n", x, h-18, x+30, h-18, kindColors[k])
		fmt.Fprintf(&buf, `<text x="%d" y="%d">%s</text>`+"\n", x+38, h-14, k)
	}
	buf.WriteString("</svg>\n")
	return buf.Bytes()
}

// chart draws one chart in the half of the image that starts at left.
func chart(buf *bytes.Buffer, left int, title, unit string, lines []series) {
	const (
		top, plotW, plotH = 40, 380, 270
	)
	x0 := float64(left + 70)
	y0 := float64(top + plotH)
	var xs, ys []float64
	for _, l := range lines {
		xs, ys = append(xs, l.x...), append(ys, l.y...)
	}
	fmt.Fprintf(buf, `<text x="%d" y="22" font-size="14" font-weight="bold">%s</text>`+"\n", left+20, title)
	if len(xs) == 0 {
		return
	}
	xmax, ymax := niceMax(maxOf(xs)), niceMax(maxOf(ys))
	px := func(v float64) float64 { return x0 + v/xmax*plotW }
	py := func(v float64) float64 { return y0 - v/ymax*plotH }
	// Axes and grid.
	for i := 0; i <= 5; i++ {
		v := ymax * float64(i) / 5
		fmt.Fprintf(buf, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x0, py(v), x0+plotW, py(v))
		fmt.Fprintf(buf, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-6, py(v)+4, label(v))
		u := xmax * float64(i) / 5
		fmt.Fprintf(buf, `<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n", px(u), y0+18, label(u))
	}
	fmt.Fprintf(buf, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", x0, y0, x0+plotW, y0)
	fmt.Fprintf(buf, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", x0, y0, x0, y0-plotH)
	fmt.Fprintf(buf, `<text x="%.1f" y="%.1f" text-anchor="middle">nodes (one hollow agent each)</text>`+"\n", x0+plotW/2, y0+36)
	fmt.Fprintf(buf, `<text x="%.1f" y="%.1f" text-anchor="middle" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n", x0-50, y0-plotH/2, x0-50, y0-plotH/2, unit)
	for _, l := range lines {
		if len(l.x) == 0 {
			continue
		}
		var pts bytes.Buffer
		for i := range l.x {
			fmt.Fprintf(&pts, "%.1f,%.1f ", px(l.x[i]), py(l.y[i]))
		}
		fmt.Fprintf(buf, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2.5"/>`+"\n", pts.String(), l.color)
		for i := range l.x {
			fmt.Fprintf(buf, `<circle cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%s: %s %s at %s nodes</title></circle>`+"\n",
				px(l.x[i]), py(l.y[i]), l.color, l.name, label(l.y[i]), unit, label(l.x[i]))
		}
	}
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, x)
	}
	return m
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten (1 for 0).
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// label prints a tick's value.
func label(v float64) string {
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}
