// Package suggest finds the likely intended word among known ones, for
// "did you mean" in error messages (KQL, rule files).
package suggest

import "strings"

// Nearest returns the candidate nearest to word by edit distance (case
// insensitive, adjacent transpositions counting one), or "" when none is
// near enough to be a likely typo: at most 1 edit for words of up to 4
// characters, 2 up to 8, 3 beyond. Ties go to the candidate listed first.
func Nearest(word string, candidates []string) string {
	w := strings.ToLower(word)
	limit := 1
	switch n := len([]rune(w)); {
	case n > 8:
		limit = 3
	case n > 4:
		limit = 2
	case n <= 1:
		return ""
	}
	best, bestD := "", limit+1
	for _, c := range candidates {
		if c == word {
			return ""
		}
		lc := strings.ToLower(c)
		d := editDistance(w, lc, limit)
		// on a tie, prefer a candidate with the same first letter
		if d < bestD || d == bestD && best != "" && lc != "" && w[0] == lc[0] && w[0] != strings.ToLower(best)[0] {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the optimal string alignment distance between a and b,
// giving up (returning limit+1) once it exceeds limit.
func editDistance(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d > limit || -d > limit {
		return limit + 1
	}
	if len(ra) > 64 || len(rb) > 64 {
		if a == b {
			return 0
		}
		return limit + 1
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			v := min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				v = min(v, prev2[j-2]+1)
			}
			cur[j] = v
			rowMin = min(rowMin, v)
		}
		if rowMin > limit {
			return limit + 1
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
