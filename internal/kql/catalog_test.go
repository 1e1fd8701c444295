package kql

import "github.com/cdewatch/cdewatch/internal/index"

// catalogTables are the index's tables as the engine is given them in
// cdewatch serve.
func catalogTables() []TableDef {
	var defs []TableDef
	for _, r := range index.Relations() {
		def := TableDef{Name: r.Name, Doc: r.Doc}
		for _, c := range r.Columns {
			def.Columns = append(def.Columns, Column{Name: c.Name, Type: string(c.Type)})
		}
		defs = append(defs, def)
	}
	return defs
}
