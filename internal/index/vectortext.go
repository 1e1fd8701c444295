package index

// The driver (duckdb-go) writes a string into a vector with one cgo call
// per value, and has DuckDB check its UTF-8 again although the stage holds
// valid UTF-8 only; a JSON value it first marshals with encoding/json.
// Text is the most of what a flush hands DuckDB, so the stage writes each
// text column of a chunk in one call, with DuckDB's C API
// (duckdb_unsafe_vector_assign_string_element_len), into the DuckDB vector
// behind the driver's Vector. The driver does not export that vector:
// rawVectorOffset locates it by reflection, and Open fails with
// rawVectorOK false rather than guess at a driver whose layout differs.

/*
#include <stdbool.h>
#include <stdint.h>

// The declarations of duckdb.h that this file uses; the library itself is
// linked by github.com/duckdb/duckdb-go-bindings.
typedef uint64_t idx_t;
typedef struct _duckdb_vector { void *internal_ptr; } *duckdb_vector;
void duckdb_unsafe_vector_assign_string_element_len(duckdb_vector vector, idx_t index, const char *str, idx_t str_len);
void duckdb_vector_ensure_validity_writable(duckdb_vector vector);
uint64_t *duckdb_vector_get_validity(duckdb_vector vector);

// cdewatch_assign_text writes values [lo, hi) of a staged text column to
// rows 0.. of vector v: value r is bytes[ends[r-1]:ends[r]], NULL where
// nulls[r]. The text must be valid UTF-8: it is not checked again.
static void cdewatch_assign_text(duckdb_vector v, const char *bytes, const uint32_t *ends, const bool *nulls, idx_t lo, idx_t hi) {
	duckdb_vector_ensure_validity_writable(v);
	uint64_t *valid = duckdb_vector_get_validity(v);
	uint32_t start = lo > 0 ? ends[lo - 1] : 0;
	for (idx_t r = lo; r < hi; r++) {
		idx_t o = r - lo;
		uint64_t bit = (uint64_t)1 << (o % 64);
		if (nulls[r]) {
			valid[o / 64] &= ~bit;
		} else {
			valid[o / 64] |= bit;
			duckdb_unsafe_vector_assign_string_element_len(v, o, bytes + start, ends[r] - start);
		}
		start = ends[r];
	}
}
*/
import "C"

import (
	"reflect"
	"unsafe"

	duckdb "github.com/duckdb/duckdb-go/v2"
	duckmapping "github.com/duckdb/duckdb-go/v2/mapping"
)

// rawVectorOffset is where, in the struct a duckdb.Vector points to, the
// driver keeps the DuckDB vector (a mapping.Vector); rawVectorOK reports
// that it was found, with that type.
var rawVectorOffset, rawVectorOK = func() (uintptr, bool) {
	t := reflect.TypeFor[duckdb.Vector]()
	if t.NumField() == 0 || t.Field(0).Offset != 0 || t.Field(0).Type.Kind() != reflect.Pointer {
		return 0, false
	}
	f, ok := t.Field(0).Type.Elem().FieldByName("vec")
	if !ok || f.Type != reflect.TypeFor[duckmapping.Vector]() {
		return 0, false
	}
	return f.Offset, true
}()

// rawVector returns the DuckDB vector behind v.
func rawVector(v duckdb.Vector) C.duckdb_vector {
	inner := *(*unsafe.Pointer)(unsafe.Pointer(&v))
	return C.duckdb_vector((*duckmapping.Vector)(unsafe.Add(inner, rawVectorOffset)).Ptr)
}

// assignText writes rows [lo, hi) of text column col into v (a VARCHAR or
// JSON vector of at least hi-lo rows), in one call into DuckDB, which
// copies the text.
func assignText(v duckdb.Vector, col *stagedColumn, lo, hi int) {
	if hi <= lo {
		return
	}
	var bytes *C.char
	if len(col.bytes) > 0 {
		bytes = (*C.char)(unsafe.Pointer(&col.bytes[0]))
	}
	C.cdewatch_assign_text(rawVector(v), bytes, (*C.uint32_t)(unsafe.Pointer(&col.ends[0])),
		(*C.bool)(unsafe.Pointer(&col.null[0])), C.idx_t(lo), C.idx_t(hi))
}
