package kql

// seriesFunctions are the series_* functions on dynamic arrays, by name.
func seriesFunctions() map[string]fnSpec { return nil }

// seriesUDFs are the Go implementations seriesFunctions call.
func seriesUDFs() []udf { return nil }
