package kql

// geoFunctions are the geospatial KQL functions (geo_*), by name.
func geoFunctions() map[string]fnSpec { return nil }

// geoUDFs are the Go implementations the geospatial functions call.
func geoUDFs() []udf { return nil }
