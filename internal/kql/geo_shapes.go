package kql

// shapeFunctions are the geospatial functions on lines and polygons, by
// name.
func shapeFunctions() map[string]fnSpec { return nil }

// shapeUDFs are the Go implementations shapeFunctions call.
func shapeUDFs() []udf { return nil }
