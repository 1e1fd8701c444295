package kql

import (
	"cmp"
	"fmt"
	"strings"
)

// activeUsersCount is evaluate active_users_count(Id, Timeline, Start,
// End, LookbackWindow, Period, ActivePeriods, Bin [, Dimension, ...]): for
// each bin of Bin from Start (and each combination of the dimensions), the
// distinct ids active at one of their appearances in it. An appearance at
// time t is active when the id appears in at least ActivePeriods distinct
// periods (bins of Period) within (t - LookbackWindow, t]; the lookback
// reads rows before Start too. Bins without active ids give no row.
func (t *translator) activeUsersCount(e *env, r *rel, v *Evaluate) *rel {
	c := v.Call
	sc := &scope{env: e, r: r}
	a := t.pluginArgs(sc, c, 8, -1)
	id, ts := a[0], a[1]
	if ts.typ != tyDateTime {
		t.fail(c.Args[1], "active_users_count needs a datetime timeline, not a %s", ts.typ)
	}
	start, end := t.arg(c, 2, a[2], tyDateTime), t.arg(c, 3, a[3], tyDateTime)
	look := "to_microseconds(" + t.arg(c, 4, a[4], tyTimespan) + ")"
	periods := t.arg(c, 6, a[6], tyLong)
	name := cmp.Or(ts.name, "Timestamp")
	out := &rel{ordered: true, cols: []col{{name: name, typ: tyDateTime, id: t.newID()}}}
	src := []string{ts.sql + " AS ts", id.sql + " AS id"}
	var dims, dimEq, dimSel []string
	for i, d := range a[8:] {
		dn := "d" + itoa(i)
		src = append(src, d.sql+" AS "+dn)
		dims = append(dims, dn)
		dimEq = append(dimEq, "s."+dn+" IS NOT DISTINCT FROM o."+dn)
		dcol := d.name
		if dcol == "" {
			dcol = fmt.Sprintf("Dimension%d", i+1)
		}
		out.cols = append(out.cols, col{name: dcol, typ: d.typ, id: t.newID()})
		dimSel = append(dimSel, dn+" AS "+sqlIdent(out.cols[len(out.cols)-1].id))
	}
	out.cols = append(out.cols, col{name: "dcount", typ: tyLong, id: t.newID()})
	// the period of a row, and the bin of an appearance from Start
	period := binFn(t, c, []texpr{{sql: "s.ts", typ: tyDateTime}, a[5]}).sql
	var bin string
	if w, ok := a[7].str(); ok {
		fn := map[string]string{"week": "startofweek", "month": "startofmonth", "year": "startofyear"}[w]
		if fn == "" {
			t.fail(c.Args[7], "active_users_count's bin is a timespan or one of \"week\", \"month\" and \"year\", not %q", w)
		}
		bin = scalarFuncs[fn].impl(t, c, []texpr{{sql: "ts", typ: tyDateTime}}).sql
	} else {
		bin = scalarFuncs["bin_at"].impl(t, c, []texpr{{sql: "ts", typ: tyDateTime}, a[7], {sql: start, typ: tyDateTime}}).sql
	}
	occKeys := strings.Join(append([]string{"ts", "id"}, dims...), ", ")
	oKeys := strings.Join(append([]string{"o.ts", "o.id"}, prefixAll("o.d", len(dims))...), ", ")
	cond := append([]string{"s.id = o.id", "s.ts > o.ts - " + look, "s.ts <= o.ts"}, dimEq...)
	out.sql = "WITH s AS (SELECT " + strings.Join(src, ", ") + " FROM (" + r.sql + ") AS " + t.alias() + " WHERE " + ts.sql + " IS NOT NULL AND " + id.sql + " IS NOT NULL), " +
		"o AS (SELECT DISTINCT " + occKeys + " FROM s WHERE ts >= " + start + " AND ts <= " + end + "), " +
		"act AS (SELECT " + oKeys + " FROM o JOIN s ON " + strings.Join(cond, " AND ") + " GROUP BY " + oKeys + " HAVING count(DISTINCT " + period + ") >= " + periods + ") " +
		"SELECT " + strings.Join(append(append([]string{"b AS " + sqlIdent(out.cols[0].id)}, dimSel...), "count(DISTINCT id) AS "+sqlIdent(out.cols[len(out.cols)-1].id)), ", ") +
		" FROM (SELECT " + bin + " AS b, * FROM act) AS " + t.alias() + " GROUP BY " + strings.Join(append([]string{"b"}, dims...), ", ") + " ORDER BY 1"
	return out
}
