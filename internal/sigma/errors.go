package sigma

import (
	"errors"
	"fmt"

	"gopkg.in/yaml.v3"
)

// ErrUnsupported is matched (errors.Is) by the error of a rule that is valid
// Sigma but uses a feature cdewatch does not implement: Sigma v1
// aggregations, a log source with no cdewatch table, a field with no
// mapping, an undefined placeholder. Other load errors are invalid rules.
var ErrUnsupported = errors.New("unsupported Sigma feature")

// unsupportedError is the reason a rule is rejected for a feature cdewatch
// does not implement; it reads as the reason alone and matches
// ErrUnsupported.
type unsupportedError struct{ msg string }

func (e *unsupportedError) Error() string        { return e.msg }
func (e *unsupportedError) Is(target error) bool { return target == ErrUnsupported }

func unsupported(format string, args ...any) error {
	return &unsupportedError{msg: fmt.Sprintf(format, args...)}
}

// LoadError is why one rule (one YAML document of a rule file) was not
// loaded. It reads "file:line: field: reason", e.g.
//
//	rules/x.yml:12: detection.condition: aggregation "| count() > 5" is Sigma v1 syntax: use a correlation rule
type LoadError struct {
	File   string // path of the rule file in the fs.FS given to Load
	Line   int    // 1-based line of the offending node; 0 if unknown
	Column int    // 1-based column; 0 if unknown
	// Field is the path of the offending attribute, e.g.
	// "detection.selection.verb|contains" or "logsource"; "" for the
	// document as a whole.
	Field string
	// Rule is the id of the rule, else its title, when known.
	Rule string
	// Err is the reason. errors.Is(err, ErrUnsupported) tells a rule
	// using a feature cdewatch lacks from an invalid one.
	Err error
}

// Error implements error.
func (e *LoadError) Error() string {
	s := e.File
	if e.Line > 0 {
		s += fmt.Sprintf(":%d", e.Line)
	}
	if e.Field != "" {
		s += ": " + e.Field
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the reason.
func (e *LoadError) Unwrap() error { return e.Err }

// Unsupported reports whether the rule was rejected for a feature cdewatch
// does not implement rather than for being invalid.
func (e *LoadError) Unsupported() bool { return errors.Is(e.Err, ErrUnsupported) }

// posError is a reason attached to a YAML node and an attribute path while
// a document is parsed; the loader turns it into a LoadError.
type posError struct {
	line, col int
	field     string
	err       error
}

func (e *posError) Error() string { return fmt.Sprintf("%d: %s: %v", e.line, e.field, e.err) }
func (e *posError) Unwrap() error { return e.err }

// errAt attaches err to node n (which may be nil) and the attribute path.
func errAt(n *yaml.Node, field string, err error) *posError {
	pe := &posError{field: field, err: err}
	if n != nil {
		pe.line, pe.col = n.Line, n.Column
	}
	return pe
}

// errf attaches a formatted reason to node n and the attribute path.
func errf(n *yaml.Node, field, format string, args ...any) *posError {
	return errAt(n, field, fmt.Errorf(format, args...))
}
