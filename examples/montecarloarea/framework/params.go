// Package framework is the MonteCarloArea framework on the kubemesos SDK: a
// scheduler that splits the area computation into pieces and launches one
// task per piece on the offers it gets, and an executor that counts one
// piece's points. The maths is in package area.
package framework

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/kubemesos/kubemesos/examples/montecarloarea/area"
)

// Settings are a MonteCarloArea run's parameters, from the Framework's
// spec.parameters.
type Settings struct {
	// Params are the maths: expression, rectangle, points, pieces, method, seed.
	Params area.Params
	// CPU and Memory are what each task takes (default 1 and 128Mi).
	CPU, Memory resource.Quantity
	// Image runs the executor (default: the scheduler's own image).
	Image string
	// MaxRetries bounds the relaunches of one failed or lost piece (default 3).
	MaxRetries int
}

// Parameter names in spec.parameters.
const (
	ParamExpression = "expression"
	ParamXLow       = "xLow"
	ParamXHigh      = "xHigh"
	ParamYLow       = "yLow"
	ParamYHigh      = "yHigh"
	ParamPoints     = "points"
	ParamTasks      = "tasks"
	ParamMethod     = "method"
	ParamSeed       = "seed"
	ParamCPU        = "cpu"
	ParamMemory     = "memory"
	ParamImage      = "executorImage"
	ParamRetries    = "maxRetries"
)

// ParseSettings reads and checks the parameters. Every error names the
// parameter and what it should be.
func ParseSettings(params map[string]string, defaultImage string) (Settings, error) {
	s := Settings{CPU: resource.MustParse("1"), Memory: resource.MustParse("128Mi"), Image: defaultImage, MaxRetries: 3}
	get := func(k, def string) string {
		if v, ok := params[k]; ok && strings.TrimSpace(v) != "" {
			return strings.TrimSpace(v)
		}
		return def
	}
	expr, err := area.ParseExpression(get(ParamExpression, ""))
	if err != nil {
		return s, fmt.Errorf("parameter %s: %w", ParamExpression, err)
	}
	s.Params.Expr = expr
	floats := []struct {
		name string
		dst  *float64
		def  string
	}{{ParamXLow, &s.Params.XLow, "0"}, {ParamXHigh, &s.Params.XHigh, "10"}, {ParamYLow, &s.Params.YLow, "0"}, {ParamYHigh, &s.Params.YHigh, "100"}}
	for _, f := range floats {
		v, err := strconv.ParseFloat(get(f.name, f.def), 64)
		if err != nil {
			return s, fmt.Errorf("parameter %s: %q is not a number", f.name, get(f.name, f.def))
		}
		*f.dst = v
	}
	ints := []struct {
		name string
		dst  *int
		def  string
	}{{ParamPoints, &s.Params.Points, "1000"}, {ParamTasks, &s.Params.Tasks, "4"}, {ParamRetries, &s.MaxRetries, "3"}}
	for _, f := range ints {
		v, err := strconv.Atoi(get(f.name, f.def))
		if err != nil {
			return s, fmt.Errorf("parameter %s: %q is not an integer", f.name, get(f.name, f.def))
		}
		*f.dst = v
	}
	seed, err := strconv.ParseInt(get(ParamSeed, "1"), 10, 64)
	if err != nil {
		return s, fmt.Errorf("parameter %s: %q is not an integer", ParamSeed, get(ParamSeed, "1"))
	}
	s.Params.Seed = seed
	s.Params.Method = get(ParamMethod, "grid")
	for name, dst := range map[string]*resource.Quantity{ParamCPU: &s.CPU, ParamMemory: &s.Memory} {
		if v := get(name, ""); v != "" {
			q, err := resource.ParseQuantity(v)
			if err != nil || q.Sign() <= 0 {
				return s, fmt.Errorf("parameter %s: %q is not a positive quantity such as 500m or 128Mi", name, v)
			}
			*dst = q
		}
	}
	s.Image = get(ParamImage, defaultImage)
	if s.MaxRetries < 0 {
		return s, fmt.Errorf("parameter %s: must not be negative", ParamRetries)
	}
	if err := s.Params.Validate(); err != nil {
		return s, err
	}
	return s, nil
}

// Piece is what one task computes: columns [From, To) of the grid, or
// sampling piece Index of the random method. It travels as the task's data.
type Piece struct {
	Index      int     `json:"index"`
	Expression string  `json:"expression"`
	XLow       float64 `json:"xLow"`
	XHigh      float64 `json:"xHigh"`
	YLow       float64 `json:"yLow"`
	YHigh      float64 `json:"yHigh"`
	Points     int     `json:"points"`
	Tasks      int     `json:"tasks"`
	Method     string  `json:"method"`
	Seed       int64   `json:"seed"`
	From       int     `json:"from"`
	To         int     `json:"to"`
}

// Pieces cuts valid parameters into the p.Tasks pieces that the tasks
// compute: the columns of area.Split (grid), or each piece's share of the
// samples (random: From = Index, To = Index+1).
func Pieces(p area.Params) []Piece {
	var ranges [][2]int
	if p.Method == area.MethodGrid {
		ranges = area.Split(p)
	} else {
		for i := 0; i < p.Tasks; i++ {
			ranges = append(ranges, [2]int{i, i + 1})
		}
	}
	pieces := make([]Piece, 0, len(ranges))
	for i, r := range ranges {
		pieces = append(pieces, Piece{Index: i, Expression: p.Expr.String(), XLow: p.XLow, XHigh: p.XHigh, YLow: p.YLow,
			YHigh: p.YHigh, Points: p.Points, Tasks: p.Tasks, Method: p.Method, Seed: p.Seed, From: r[0], To: r[1]})
	}
	return pieces
}

// Encode serializes the piece as task data.
func (p Piece) Encode() string {
	b, _ := json.Marshal(p)
	return string(b)
}

// DecodePiece reads task data, checking it as the scheduler would: valid
// parameters, and one of the pieces the scheduler cuts them into (see
// checkPlanned).
func DecodePiece(data string) (Piece, area.Params, error) {
	var p Piece
	if err := json.Unmarshal([]byte(data), &p); err != nil {
		return p, area.Params{}, fmt.Errorf("task data is not a MonteCarloArea piece: %w", err)
	}
	expr, err := area.ParseExpression(p.Expression)
	if err != nil {
		return p, area.Params{}, err
	}
	params := area.Params{Expr: expr, XLow: p.XLow, XHigh: p.XHigh, YLow: p.YLow, YHigh: p.YHigh, Points: p.Points, Tasks: p.Tasks, Method: p.Method, Seed: p.Seed}
	if err := params.Validate(); err != nil {
		return p, params, err
	}
	if err := p.checkPlanned(params); err != nil {
		return p, params, err
	}
	return p, params, nil
}

// checkPlanned refuses a piece that the scheduler does not make of params:
// its index must be one of params.Tasks, and it must cover the columns
// that area.Split gives that index (grid) or be that index's share of the
// samples, From = Index and To = Index+1 (random). An executor that counted
// any other range would report a count that adds up to no area: columns
// counted twice or not at all.
func (p Piece) checkPlanned(params area.Params) error {
	if p.Index < 0 || p.Index >= params.Tasks {
		return fmt.Errorf("piece %d is not one of the %d pieces", p.Index, params.Tasks)
	}
	want := [2]int{p.Index, p.Index + 1}
	if params.Method == area.MethodGrid {
		want = area.Split(params)[p.Index]
	}
	if p.From != want[0] || p.To != want[1] {
		return fmt.Errorf("piece %d covers [%d, %d); the scheduler cuts it as [%d, %d)", p.Index, p.From, p.To, want[0], want[1])
	}
	return nil
}

// Count is a piece's result, reported as "under=U total=T" in the
// TASK_FINISHED data.
type Count struct{ Under, Total int64 }

// String formats the count as task data.
func (c Count) String() string { return fmt.Sprintf("under=%d total=%d", c.Under, c.Total) }

// ParseCount reads a piece's result from task data, exactly as
// Count.String writes it.
func ParseCount(data string) (Count, error) {
	var c Count
	if _, err := fmt.Sscanf(data, "under=%d total=%d", &c.Under, &c.Total); err != nil {
		return c, fmt.Errorf("task data %q is not \"under=U total=T\": %w", data, err)
	}
	if c.String() != data {
		return c, fmt.Errorf("task data %q is not \"under=U total=T\" (it reads as %q)", data, c.String())
	}
	if c.Under < 0 || c.Total <= 0 || c.Under > c.Total {
		return c, fmt.Errorf("task data %q: want 0 <= under <= total and total > 0", data)
	}
	return c, nil
}
