package framework

import (
	"strings"
	"testing"
)

func TestParseSettings(t *testing.T) {
	good := map[string]string{"expression": "2x2 + 3x", "xLow": "0", "xHigh": "10", "yLow": "0", "yHigh": "230", "points": "100", "tasks": "4"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v
		return m
	}
	cases := []struct {
		name   string
		params map[string]string
		want   string
	}{
		{name: "sample", params: good},
		{name: "random method", params: with("method", "random")},
		{name: "no expression", params: with("expression", ""), want: "parameter expression"},
		{name: "bad term", params: with("expression", "2x2 + 3y"), want: `"3y"`},
		{name: "bad number", params: with("xHigh", "ten"), want: `parameter xHigh: "ten" is not a number`},
		{name: "bad points", params: with("points", "1.5"), want: "parameter points"},
		{name: "empty rectangle", params: with("xHigh", "0"), want: "invalid parameters"},
		{name: "bad method", params: with("method", "guess"), want: "invalid parameters"},
		{name: "bad cpu", params: with("cpu", "-1"), want: "parameter cpu"},
		{name: "negative retries", params: with("maxRetries", "-1"), want: "parameter maxRetries"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSettings(tc.params, "img")
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if s.CPU.String() != "1" || s.Memory.String() != "128Mi" || s.Image != "img" || s.MaxRetries != 3 {
					t.Errorf("defaults: %+v", s)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestPieceRoundTrip(t *testing.T) {
	p := Piece{Index: 2, Expression: "2x2 + 3x", XHigh: 10, YHigh: 230, Points: 100, Tasks: 4, Method: "grid", From: 50, To: 75}
	got, params, err := DecodePiece(p.Encode())
	if err != nil || got != p || params.Points != 100 {
		t.Fatalf("round trip: %+v %v", got, err)
	}
	if _, _, err := DecodePiece("not json"); err == nil {
		t.Error("garbage accepted")
	}
	if _, _, err := DecodePiece(Piece{Expression: "2x2", XLow: 1, XHigh: 0, Points: 1, Tasks: 1, Method: "grid"}.Encode()); err == nil {
		t.Error("an invalid piece accepted")
	}
}

func TestParseCount(t *testing.T) {
	c, err := ParseCount(Count{Under: 3, Total: 10}.String())
	if err != nil || c.Under != 3 || c.Total != 10 {
		t.Fatalf("%+v %v", c, err)
	}
	for _, bad := range []string{"", "under=3", "under=11 total=10", "under=-1 total=10", "under=0 total=0"} {
		if _, err := ParseCount(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
