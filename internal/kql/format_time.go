package kql

import (
	"strconv"
	"strings"
)

// formatSpec splits a Kusto datetime/timespan format into runs of the
// same specifier letter and literal text.
func formatSpec(f string, letters string) []string {
	var out []string
	for i := 0; i < len(f); {
		c := f[i]
		if strings.IndexByte(letters, c) >= 0 {
			j := i
			for j < len(f) && f[j] == c {
				j++
			}
			out = append(out, f[i:j])
			i = j
			continue
		}
		if c == '\\' && i+1 < len(f) {
			out = append(out, "'"+f[i+1:i+2])
			i += 2
			continue
		}
		j := i
		for j < len(f) && strings.IndexByte(letters, f[j]) < 0 && f[j] != '\\' {
			j++
		}
		out = append(out, "'"+f[i:j])
		i = j
	}
	return out
}

func padNum(expr string, width int) string {
	s := "CAST(" + expr + " AS VARCHAR)"
	if width <= 1 {
		return s
	}
	return "lpad(" + s + ", " + strconv.Itoa(width) + ", '0')"
}

// fraction renders n digits of the seven-digit fraction of a count of
// microseconds; trim drops trailing zeros (the F specifier).
func fraction(micros string, n int, trim bool) string {
	s := "left(lpad(CAST(" + micros + " AS VARCHAR), 6, '0') || '0', " + strconv.Itoa(min(n, 7)) + ")"
	if trim {
		s = "rtrim(" + s + ", '0')"
	}
	return s
}

// formatDateTimeSQL renders format_datetime(x, f).
func formatDateTimeSQL(x, f string) string {
	var parts []string
	for _, tok := range formatSpec(f, "dfFhHmMsyt") {
		if tok[0] == '\'' {
			parts = append(parts, sqlString(tok[1:]))
			continue
		}
		n := len(tok)
		switch tok[0] {
		case 'y':
			if n >= 3 {
				parts = append(parts, padNum("year("+x+")", n))
			} else {
				parts = append(parts, padNum("year("+x+") % 100", n))
			}
		case 'M':
			parts = append(parts, padNum("month("+x+")", n))
		case 'd':
			parts = append(parts, padNum("day("+x+")", n))
		case 'H':
			parts = append(parts, padNum("hour("+x+")", n))
		case 'h':
			parts = append(parts, padNum("((hour("+x+") + 11) % 12 + 1)", n))
		case 'm':
			parts = append(parts, padNum("minute("+x+")", n))
		case 's':
			parts = append(parts, padNum("second("+x+")", n))
		case 'f':
			parts = append(parts, fraction("(microsecond("+x+") % 1000000)", n, false))
		case 'F':
			parts = append(parts, fraction("(microsecond("+x+") % 1000000)", n, true))
		case 't':
			parts = append(parts, "CASE WHEN hour("+x+") < 12 THEN 'AM' ELSE 'PM' END")
		}
	}
	if len(parts) == 0 {
		return "''"
	}
	return "(" + strings.Join(parts, " || ") + ")"
}

// formatTimespanSQL renders format_timespan(x, f) for a count of
// microseconds.
func formatTimespanSQL(x, f string) string {
	a := "abs(" + x + ")"
	var parts []string
	for _, tok := range formatSpec(f, "dfFhHms") {
		if tok[0] == '\'' {
			parts = append(parts, sqlString(tok[1:]))
			continue
		}
		n := len(tok)
		switch tok[0] {
		case 'd':
			parts = append(parts, padNum("("+a+" // 86400000000)", n))
		case 'h', 'H':
			parts = append(parts, padNum("(("+a+" // 3600000000) % 24)", n))
		case 'm':
			parts = append(parts, padNum("(("+a+" // 60000000) % 60)", n))
		case 's':
			parts = append(parts, padNum("(("+a+" // 1000000) % 60)", n))
		case 'f':
			parts = append(parts, fraction("("+a+" % 1000000)", n, false))
		case 'F':
			parts = append(parts, fraction("("+a+" % 1000000)", n, true))
		}
	}
	if len(parts) == 0 {
		return "''"
	}
	return "(CASE WHEN " + x + " < 0 THEN '-' ELSE '' END || " + strings.Join(parts, " || ") + ")"
}
