package kql

import (
	"context"
	"database/sql"
	"encoding/json"
	"testing"

	"github.com/cdewatch/cdewatch/internal/index"
)

// catalogTables are the index's tables as the engine is given them in
// cdewatch serve.
func catalogTables() []TableDef {
	var defs []TableDef
	for _, r := range index.Relations() {
		def := TableDef{Name: r.Name, Doc: r.Doc, Of: r.Base, TypeColumn: true}
		for _, c := range r.Columns {
			def.Columns = append(def.Columns, Column{Name: c.Name, Type: string(c.Type)})
		}
		defs = append(defs, def)
	}
	return defs
}

// TestCatalogTableKinds: a table that is another name for, or a part of,
// another (AKSAudit of KubeAuditLogs: TableDef.Of) is searched only when it
// is named, or matched by a wildcard without the table it belongs to, so
// that no row is found twice; a table given TypeColumn has Log Analytics'
// Type column, its own name.
func TestCatalogTableKinds(t *testing.T) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE k (Verb VARCHAR); INSERT INTO k VALUES ('get'), ('create')`); err != nil {
		t.Fatal(err)
	}
	cols := []Column{{Name: "Verb", Type: "string"}}
	eng := NewEngine(db, []TableDef{
		{Name: "KubeAuditLogs", Relation: "k", Columns: cols, TypeColumn: true},
		{Name: "AKSAudit", Relation: "k", Columns: cols, Of: "KubeAuditLogs", TypeColumn: true},
		{Name: "Other", Relation: "k", Columns: cols},
	}, Options{})
	for _, c := range []struct{ query, want string }{
		{`search "create" | summarize n = count() by $table | order by $table asc`, `[["KubeAuditLogs",1],["Other",1]]`},
		{`search in (AKSAudit) "create" | summarize n = count() by $table`, `[["AKSAudit",1]]`},
		{`search in (AKS*) "create" | summarize n = count() by $table`, `[["AKSAudit",1]]`},
		{`search in (*Audit*) "create" | summarize n = count() by $table`, `[["KubeAuditLogs",1]]`},
		{`union withsource=T *Audit* | summarize n = count() by T`, `[["KubeAuditLogs",2]]`},
		{`union KubeAuditLogs, AKSAudit | count`, `[[4]]`},
		{`union KubeAuditLogs, AKSAudit | summarize n = count() by Type | order by Type asc`, `[["AKSAudit",2],["KubeAuditLogs",2]]`},
		{`KubeAuditLogs | getschema | project ColumnName`, `[["Verb"],["Type"]]`},
		{`Other | getschema | project ColumnName`, `[["Verb"]]`},
	} {
		res, err := eng.Run(context.Background(), c.query)
		if err != nil {
			t.Errorf("%s: %v", c.query, err)
			continue
		}
		if got, _ := json.Marshal(res.Tables[0].Rows); string(got) != c.want {
			t.Errorf("%s: %s, want %s", c.query, got, c.want)
		}
	}
}
