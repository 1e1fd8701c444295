package kql

// moreFunctions are scalar functions beyond the core set of functions.go,
// by name.
func moreFunctions() map[string]fnSpec { return nil }

// moreUDFs are the Go implementations moreFunctions call.
func moreUDFs() []udf { return nil }
