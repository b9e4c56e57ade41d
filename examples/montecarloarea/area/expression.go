package area

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Errors returned (wrapped) by [ParseTerm] and [ParseExpression]; test
// for them with errors.Is.
var (
	// ErrEmptyExpression reports an expression that is empty or only
	// white space.
	ErrEmptyExpression = errors.New("empty expression")
	// ErrEmptyTerm reports a term that is empty or only white space,
	// as in "2x2 + + 3" or a trailing "+".
	ErrEmptyTerm = errors.New("empty term")
	// ErrMultipleX reports a term containing more than one 'x'.
	ErrMultipleX = errors.New("more than one 'x'")
	// ErrNotFinite reports a coefficient or exponent that parses to NaN
	// or ±Inf.
	ErrNotFinite = errors.New("value is not finite")
)

// Term is one summand c*x^e of an [Expression].
type Term struct {
	// Coefficient is the factor c.
	Coefficient float64
	// Exponent is the power e of x.
	Exponent float64
}

// ParseTerm parses a single term of the form <coefficient>x<exponent>,
// following the Java Term.fromString: the text is split at 'x'; the part
// before it is the coefficient (default 1) and the part after it the
// exponent (default 1 when an 'x' is present, 0 when there is none).
// Both parts are trimmed of white space and parsed with
// strconv.ParseFloat, so "2x2" is 2x^2, "3x" is 3x^1, "x3" is 1x^3, "7"
// is 7x^0, "x" is 1x^1 and "-0.5x1.5" is -0.5x^1.5.
//
// Unlike the Java code, ParseTerm rejects an empty term (the Java code
// reads it as the constant 1), a term with more than one 'x' (the Java
// code silently ignores everything after the second 'x') and
// coefficients or exponents that are NaN or infinite. A lone "-" is not
// a coefficient (as in Java), so "-x2" must be written "-1x2".
// Errors name the term, e.g. `term "3y": coefficient: ...`.
func ParseTerm(s string) (Term, error) {
	t, err := parseTerm(s)
	if err != nil {
		return Term{}, fmt.Errorf("term %q: %w", strings.TrimSpace(s), err)
	}
	return t, nil
}

// parseTerm is ParseTerm without the error prefix naming the term.
func parseTerm(s string) (Term, error) {
	if strings.TrimSpace(s) == "" {
		return Term{}, ErrEmptyTerm
	}
	parts := strings.Split(s, "x")
	if len(parts) > 2 {
		return Term{}, ErrMultipleX
	}
	t := Term{Coefficient: 1, Exponent: 0}
	if c := strings.TrimSpace(parts[0]); c != "" {
		v, err := parseFinite(c)
		if err != nil {
			return Term{}, fmt.Errorf("coefficient: %w", err)
		}
		t.Coefficient = v
	}
	if len(parts) == 2 {
		t.Exponent = 1
		if e := strings.TrimSpace(parts[1]); e != "" {
			v, err := parseFinite(e)
			if err != nil {
				return Term{}, fmt.Errorf("exponent: %w", err)
			}
			t.Exponent = v
		}
	}
	return t, nil
}

// parseFinite parses a float64 and rejects NaN and ±Inf.
func parseFinite(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q: %w", s, ErrNotFinite)
	}
	return v, nil
}

// Evaluate returns Coefficient * x^Exponent (math.Pow semantics, so a
// fractional power of a negative x is NaN and 0 to a negative power is
// ±Inf).
func (t Term) Evaluate(x float64) float64 {
	// The explicit conversion forbids fusing this product with the
	// addition in Expression.Evaluate into an FMA, so every caller sees
	// bit-for-bit the same value on every architecture.
	return float64(t.Coefficient * math.Pow(x, t.Exponent))
}

// String formats the term in the syntax accepted by [ParseTerm], so that
// it round-trips: "7" for exponent 0, "3x" for exponent 1 and "2x2" or
// "-0.5x1.5" otherwise. Numbers use strconv.FormatFloat(v, 'g', -1, 64)
// (the shortest exact representation) with the '+' of a positive
// decimal exponent dropped ("1e21" rather than "1e+21"), because '+'
// separates terms.
func (t Term) String() string {
	c := formatNumber(t.Coefficient)
	switch t.Exponent {
	case 0:
		return c
	case 1:
		return c + "x"
	default:
		return c + "x" + formatNumber(t.Exponent)
	}
}

// formatNumber formats v exactly, without any '+' sign.
func formatNumber(v float64) string {
	return strings.Replace(strconv.FormatFloat(v, 'g', -1, 64), "e+", "e", 1)
}

// Expression is a sum of terms, f(x) = sum of Terms[i].Evaluate(x).
type Expression struct {
	// Terms are the summands, in input order.
	Terms []Term
}

// ParseExpression parses terms joined by '+', following the Java
// Expression.fromString; each term is parsed as by [ParseTerm] and white
// space is allowed around every part, e.g. " 2 x 2 + 3 x ". There is no
// binary minus: negative coefficients are written "2x2 + -3x".
//
// An empty (or all white space) expression is rejected with
// [ErrEmptyExpression], and empty terms (e.g. "2x2 + + 3" or a trailing
// "+") with [ErrEmptyTerm]. Every term error names the term by its
// 1-based position and trimmed text, e.g. `term 2 "3y": coefficient:
// strconv.ParseFloat: parsing "3y": invalid syntax`.
func ParseExpression(s string) (Expression, error) {
	if strings.TrimSpace(s) == "" {
		return Expression{}, ErrEmptyExpression
	}
	raw := strings.Split(s, "+")
	terms := make([]Term, 0, len(raw))
	for i, r := range raw {
		t, err := parseTerm(r)
		if err != nil {
			return Expression{}, fmt.Errorf("term %d %q: %w", i+1, strings.TrimSpace(r), err)
		}
		terms = append(terms, t)
	}
	return Expression{Terms: terms}, nil
}

// MustParseExpression is like [ParseExpression] but panics on error. It
// is meant for constant expressions in tests and examples.
func MustParseExpression(s string) Expression {
	e, err := ParseExpression(s)
	if err != nil {
		panic(fmt.Sprintf("area.MustParseExpression(%q): %v", s, err))
	}
	return e
}

// Evaluate returns the sum of the terms at x, accumulated left to right
// starting from 0 exactly as the Java Expression.evaluate does. The
// result may be NaN or ±Inf (see [Term.Evaluate]).
func (e Expression) Evaluate(x float64) float64 {
	value := 0.0
	for _, t := range e.Terms {
		value += t.Evaluate(x)
	}
	return value
}

// String joins the terms' [Term.String] forms with " + "; the result is
// accepted by [ParseExpression] and parses back to an expression that
// evaluates identically. The empty expression formats as "".
func (e Expression) String() string {
	parts := make([]string, len(e.Terms))
	for i, t := range e.Terms {
		parts[i] = t.String()
	}
	return strings.Join(parts, " + ")
}
