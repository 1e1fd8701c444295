package kql

import (
	"fmt"
	"github.com/cdewatch/cdewatch/internal/suggest"
	"sort"
)

// Error is a syntax error. Pos is the place of the offending token (for an
// unterminated literal, where the literal starts); Msg says what is wrong
// and, where it can, how to fix it.
type Error struct {
	Pos
	Msg string
}

// Error returns "line L, column C: Msg".
func (e *Error) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

// Suggest returns the candidate nearest to word by edit distance, or ""
// when none is near enough to be a likely typo (suggest.Nearest). It is
// exported for later stages (unknown function, table or column).
func Suggest(word string, candidates []string) string { return suggest.Nearest(word, candidates) }

// didYouMean returns " (did you mean 'x'?)" for the suggestion of word among
// candidates, or "".
func didYouMean(word string, candidates []string) string {
	if s := Suggest(word, candidates); s != "" {
		return fmt.Sprintf(" (did you mean '%s'?)", s)
	}
	return ""
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
