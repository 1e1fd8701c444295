package kql

import (
	"bytes"
	"compress/zlib"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/adler32"
	"io"
	"math"
	"math/bits"
	"net/netip"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // datetime_local_to_utc and datetime_utc_to_local need the zone database
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
)

// This file holds the long tail of Kusto's scalar functions: those the
// documentation uses beyond the core set of functions.go, and corrected
// versions of a few core ones (an entry here replaces the core entry of
// the same name). Functions DuckDB can compute are translated to SQL;
// the others are Go functions registered as UDFs (udf.go), named kql_*.
//
// Dynamic values reach a UDF as JSON text and are decoded with
// mfParseJSON, which keeps the order of object keys (orderedBag) and
// numbers as written (json.Number), and are written back with mfJSON.

// moreFunctions are scalar functions beyond the core set of functions.go,
// by name.
func moreFunctions() map[string]fnSpec {
	f := map[string]fnSpec{}
	add := func(names string, min, max int, impl func(t *translator, c *Call, a []texpr) texpr) {
		for _, n := range strings.Fields(names) {
			f[n] = fnSpec{min, max, impl}
		}
	}
	call := func(u udf) func(t *translator, c *Call, a []texpr) texpr {
		return func(t *translator, c *Call, a []texpr) texpr { return mfCall(t, c, a, u) }
	}
	real1 := func(tmpl string) func(t *translator, c *Call, a []texpr) texpr {
		return func(t *translator, c *Call, a []texpr) texpr {
			return texpr{sql: strings.ReplaceAll(tmpl, "X", t.arg(c, 0, a[0], tyReal)), typ: tyReal}
		}
	}

	// arrays and series of values
	add("range", 2, 3, mfRange)
	add("array_iff array_iif", 3, 3, call(udfArrayIff))
	add("array_rotate_left", 2, 2, call(udfArrayRotate))
	add("array_rotate_right", 2, 2, func(t *translator, c *Call, a []texpr) texpr {
		return mfCall(t, c, []texpr{a[0], mfNeg(t, c, 1, a[1])}, udfArrayRotate)
	})
	add("array_shift_left", 2, 3, func(t *translator, c *Call, a []texpr) texpr {
		return mfCall(t, c, mfPad(a, 3, mfNullDynamic), udfArrayShift)
	})
	add("array_shift_right", 2, 3, func(t *translator, c *Call, a []texpr) texpr {
		a = mfPad(a, 3, mfNullDynamic)
		return mfCall(t, c, []texpr{a[0], mfNeg(t, c, 1, a[1]), a[2]}, udfArrayShift)
	})
	add("array_split", 2, 2, call(udfArraySplit))
	add("array_sort_asc", 1, 64, mfArraySort(true))
	add("array_sort_desc", 1, 64, mfArraySort(false))
	add("array_index_of", 2, 5, mfArrayIndexOf)
	add("set_union", 1, 64, func(t *translator, c *Call, a []texpr) texpr {
		// the distinct elements in the order they first appear
		parts := make([]string, len(a))
		for i := range a {
			parts[i] = "CAST(json_extract(" + t.arg(c, i, a[i], tyDynamic) + ", '$[*]') AS JSON[])"
		}
		l := "flatten([" + strings.Join(parts, ", ") + "])"
		return texpr{sql: "to_json(list_filter(" + l + ", (e, i) -> list_position(" + l + ", e) = i))", typ: tyDynamic}
	})
	add("jaccard_index", 2, 2, call(udfJaccard))
	add("unicode_codepoints_from_string to_utf8", 1, 1, call(udfCodepointsFrom))
	add("unicode_codepoints_to_string make_string", 1, 64, call(udfCodepointsTo))

	// property bags
	add("bag_merge", 1, 64, call(udfBagMerge))
	add("bag_set_key", 3, 3, call(udfBagSetKey))
	add("bag_zip", 2, 2, call(udfBagZip))
	add("bag_has_key", 2, 2, func(t *translator, c *Call, a []texpr) texpr {
		bag := t.arg(c, 0, a[0], tyDynamic)
		if k, ok := a[1].str(); ok {
			ptr := jsonPointer(k)
			if strings.HasPrefix(k, "$") {
				keys, ok := mfJSONPathKeys(k)
				if !ok {
					t.fail(c.Args[1], "bag_has_key: %q is not a JSONPath of property names such as $.a.b", k)
				}
				ptr = ""
				for _, key := range keys {
					ptr += jsonPointer(key)
				}
			}
			return texpr{sql: "coalesce(json_exists(" + bag + ", " + sqlString(ptr) + "), FALSE)", typ: tyBool}
		}
		return mfCall(t, c, a, udfBagHasKey)
	})
	add("extract_json extractjson", 2, 3, func(t *translator, c *Call, a []texpr) texpr {
		j := "json_extract(TRY_CAST(" + t.arg(c, 1, a[1], tyString) + " AS JSON), " + t.arg(c, 0, a[0], tyString) + ")"
		typ := tyString
		if len(a) == 3 {
			typ = typeOfArg(t, c, a[2])
		}
		switch typ {
		case tyDynamic:
			return texpr{sql: j, typ: tyDynamic}
		case tyString:
			return texpr{sql: "coalesce(json_extract_string(" + j + ", '$'), '')", typ: tyString}
		}
		return texpr{sql: dynTo(j, typ), typ: typ}
	})

	// strings
	add("strcmp", 2, 2, func(t *translator, c *Call, a []texpr) texpr {
		x, y := t.arg(c, 0, a[0], tyString), t.arg(c, 1, a[1], tyString)
		return texpr{sql: "CAST(CASE WHEN " + x + " < " + y + " THEN -1 WHEN " + x + " > " + y + " THEN 1 ELSE 0 END AS BIGINT)", typ: tyLong}
	})
	add("translate", 3, 3, mfString(udfTranslate))
	add("regex_quote", 1, 1, mfString(udfRegexQuote))
	add("indexof", 2, 5, func(t *translator, c *Call, a []texpr) texpr {
		if len(a) == 2 {
			s, sub := t.arg(c, 0, a[0], tyString), t.arg(c, 1, a[1], tyString)
			return texpr{sql: "(CAST(strpos(" + s + ", " + sub + ") AS BIGINT) - 1)", typ: tyLong}
		}
		return mfCall(t, c, mfPad(a, 5, mfLong(-1), mfLong(1)), udfIndexOf)
	})
	add("indexof_regex", 2, 5, func(t *translator, c *Call, a []texpr) texpr {
		t.regex(c.Args[1], a[1])
		return mfCall(t, c, mfPad(a, 5, mfLong(0), mfLong(-1), mfLong(1)), udfIndexOfRegex)
	})
	add("has_any_index", 2, 2, call(udfHasAnyIndex))
	add("url_encode", 1, 1, mfString(udfURLEncode))
	add("url_encode_component", 1, 1, mfString(udfURLEncodeComponent))
	add("punycode_from_string", 1, 1, mfString(udfPunyFrom))
	add("punycode_to_string", 1, 1, mfString(udfPunyTo))
	add("punycode_domain_from_string", 1, 1, mfString(udfPunyDomainFrom))
	add("punycode_domain_to_string", 1, 1, mfString(udfPunyDomainTo))
	add("zlib_compress_to_base64_string", 1, 1, mfString(udfZlibCompress))
	add("zlib_decompress_from_base64_string", 1, 1, mfString(udfZlibDecompress))
	add("format_bytes", 1, 3, func(t *translator, c *Call, a []texpr) texpr {
		return mfString(udfFormatBytes)(t, c, mfPad(a, 3, mfLong(0), texpr{sql: "''", typ: tyString}))
	})

	// parsers
	add("parse_csv", 1, 1, call(udfParseCSV))
	add("parse_command_line", 2, 2, func(t *translator, c *Call, a []texpr) texpr {
		if p, ok := a[1].str(); ok && !strings.EqualFold(p, "windows") {
			t.fail(c.Args[1], "parse_command_line supports only the \"windows\" parser, not %q", p)
		}
		return mfCall(t, c, a, udfParseCommandLine)
	})
	add("parse_path", 1, 1, call(udfParsePath))
	add("parse_urlquery", 1, 1, call(udfParseURLQuery))
	add("parse_version", 1, 1, call(udfParseVersion))

	// hashes and encodings
	hashText := func(name string) func(t *translator, c *Call, a []texpr) texpr {
		return func(t *translator, c *Call, a []texpr) texpr {
			return texpr{sql: name + "(" + mfHashText(a[0]) + ")", typ: tyString}
		}
	}
	add("hash_md5", 1, 1, hashText("md5"))
	add("hash_sha1", 1, 1, hashText("sha1"))
	add("hash_sha256", 1, 1, hashText("sha256"))
	add("hash hash_xxhash64", 1, 2, mfHash)
	add("hash_combine", 2, 64, call(udfHashCombine))
	add("hash_many", 1, 64, func(t *translator, c *Call, a []texpr) texpr {
		hs := make([]texpr, len(a))
		for i := range a {
			hs[i] = mfHash(t, c, a[i:i+1])
		}
		if len(hs) == 1 {
			return hs[0]
		}
		return mfCall(t, c, hs, udfHashCombine)
	})
	add("base64_decode_toarray", 1, 1, call(udfBase64ToArray))
	add("base64_encode_fromarray", 1, 1, mfString(udfBase64FromArray))
	add("base64_encode_fromguid", 1, 1, mfString(udfBase64FromGUID))
	add("base64_decode_toguid", 1, 1, call(udfBase64ToGUID))
	add("tohex", 1, 2, func(t *translator, c *Call, a []texpr) texpr {
		h := "lower(to_hex(" + t.arg(c, 0, a[0], tyLong) + "))"
		if a[0].typ == tyInt {
			// an int is written as 32 bits
			h = "lower(to_hex(CAST(" + a[0].sql + " AS BIGINT) & 4294967295))"
		}
		if len(a) == 2 {
			h = "lpad(" + h + ", CAST(greatest(" + t.arg(c, 1, a[1], tyLong) + ", length(" + h + ")) AS INTEGER), '0')"
		}
		return texpr{sql: "coalesce(" + h + ", '')", typ: tyString}
	})

	// math
	add("gamma", 1, 1, real1("gamma(X)"))
	add("loggamma", 1, 1, real1("lgamma(X)"))
	add("cot", 1, 1, real1("cot(X)"))
	add("erf", 1, 1, call(udfErf))
	add("erfc", 1, 1, call(udfErfc))
	add("beta_cdf", 3, 3, call(udfBetaCDF))
	add("beta_inv", 3, 3, call(udfBetaInv))
	add("beta_pdf", 3, 3, call(udfBetaPDF))
	add("welch_test", 6, 6, call(udfWelchTest))
	for _, kind := range []string{"angle", "energy", "force", "length", "mass", "speed", "temperature", "volume"} {
		kind := kind
		add("convert_"+kind, 3, 3, func(t *translator, c *Call, a []texpr) texpr {
			return mfConvert(t, c, kind, a)
		})
	}
	add("around", 3, 3, func(t *translator, c *Call, a []texpr) texpr {
		switch a[0].typ {
		case tyDateTime:
			x, ctr, d := a[0].sql, t.arg(c, 1, a[1], tyDateTime), t.arg(c, 2, a[2], tyTimespan)
			return texpr{sql: "(" + x + " BETWEEN " + ctr + " - to_microseconds(" + d + ") AND " + ctr + " + to_microseconds(" + d + "))", typ: tyBool}
		case tyTimespan:
			x, ctr, d := a[0].sql, t.arg(c, 1, a[1], tyTimespan), t.arg(c, 2, a[2], tyTimespan)
			return texpr{sql: "(" + x + " BETWEEN " + ctr + " - " + d + " AND " + ctr + " + " + d + ")", typ: tyBool}
		}
		x, ctr, d := t.arg(c, 0, a[0], tyReal), t.arg(c, 1, a[1], tyReal), t.arg(c, 2, a[2], tyReal)
		return texpr{sql: "(" + x + " BETWEEN " + ctr + " - " + d + " AND " + ctr + " + " + d + ")", typ: tyBool}
	})

	// network
	add("ipv4_is_match", 2, 3, func(t *translator, c *Call, a []texpr) texpr {
		return mfCall(t, c, mfPad(a, 3, mfLong(32)), udfIPv4Match)
	})
	add("ipv4_compare", 2, 3, func(t *translator, c *Call, a []texpr) texpr {
		return mfCall(t, c, mfPad(a, 3, mfLong(32)), udfIPv4Compare)
	})
	add("ipv4_is_in_any_range", 2, 64, call(udfIPv4InAnyRange))
	add("ipv4_netmask_suffix", 1, 1, call(udfIPv4NetmaskSuffix))
	add("ipv4_range_to_cidr_list", 2, 2, call(udfIPv4RangeToCIDR))
	add("parse_ipv4_mask", 2, 2, call(udfParseIPv4Mask))
	add("format_ipv4", 1, 2, func(t *translator, c *Call, a []texpr) texpr {
		return mfString(udfFormatIPv4)(t, c, mfPad(mfIPText(t, c, a), 2, mfLong(32)))
	})
	add("format_ipv4_mask", 1, 2, func(t *translator, c *Call, a []texpr) texpr {
		return mfString(udfFormatIPv4Mask)(t, c, mfPad(mfIPText(t, c, a), 2, mfLong(32)))
	})
	add("ipv6_compare", 2, 3, func(t *translator, c *Call, a []texpr) texpr {
		return mfCall(t, c, mfPad(a, 3, mfLong(128)), udfIPv6Compare)
	})
	add("ipv6_is_match", 2, 3, func(t *translator, c *Call, a []texpr) texpr {
		return mfCall(t, c, mfPad(a, 3, mfLong(128)), udfIPv6Match)
	})
	add("ipv6_is_in_range", 2, 2, call(udfIPv6InRange))
	add("ipv6_is_in_any_range", 2, 64, call(udfIPv6InAnyRange))
	add("parse_ipv6", 1, 1, func(t *translator, c *Call, a []texpr) texpr {
		return mfString(udfParseIPv6Mask)(t, c, mfPad(a, 2, mfLong(128)))
	})
	add("parse_ipv6_mask", 2, 2, mfString(udfParseIPv6Mask))
	add("has_ipv4", 2, 2, call(udfHasIPv4))
	add("has_ipv4_prefix", 2, 2, call(udfHasIPv4Prefix))
	add("has_any_ipv4", 2, 64, call(udfHasAnyIPv4))
	add("has_any_ipv4_prefix", 2, 64, call(udfHasAnyIPv4Prefix))

	// time
	add("datetime_local_to_utc", 2, 2, call(udfLocalToUTC))
	add("datetime_utc_to_local", 2, 2, call(udfUTCToLocal))
	add("todatetime", 1, 1, mfToDateTime)
	add("bin_auto", 1, 1, func(t *translator, c *Call, a []texpr) texpr {
		// bin_at(value, query_bin_auto_size, query_bin_auto_at), or bin
		// without an origin
		size, ok := t.props["query_bin_auto_size"]
		if !ok {
			t.fail(c, "bin_auto() takes its bin size from the request property query_bin_auto_size: write set query_bin_auto_size=1h; before the query, or use bin(value, size)")
		}
		at, ok := t.props["query_bin_auto_at"]
		if !ok {
			return scalarFuncs["bin"].impl(t, &Call{Pos: c.Pos, Name: "bin", Args: []Expr{c.Args[0], c}}, []texpr{a[0], size})
		}
		return scalarFuncs["bin_at"].impl(t, &Call{Pos: c.Pos, Name: "bin_at", Args: []Expr{c.Args[0], c, c}}, []texpr{a[0], size, at})
	})

	// assertions and the caller's identity
	add("assert", 2, 2, func(t *translator, c *Call, a []texpr) texpr {
		msg := t.arg(c, 1, a[1], tyString)
		return texpr{sql: "CASE WHEN " + t.asBool(c.Args[0], a[0]) + " THEN TRUE ELSE error('assertion failed: ' || " + msg + ") END", typ: tyBool}
	})
	add("current_principal_details", 0, 0, func(t *translator, c *Call, a []texpr) texpr {
		t.fail(c, "current_principal_details() is not supported: cdewatch's callers are reader tokens, not Microsoft Entra principals")
		return texpr{}
	})
	add("current_principal_is_member_of", 1, 64, func(t *translator, c *Call, a []texpr) texpr {
		// cdewatch's callers are reader tokens, members of no Microsoft
		// Entra group
		return texpr{sql: "FALSE", typ: tyBool}
	})
	return f
}

// moreUDFs are the Go implementations moreFunctions call.
func moreUDFs() []udf {
	return []udf{
		udfArrayIff, udfArrayRotate, udfArrayShift, udfArraySplit, udfArraySort, udfArrayIndexOf,
		udfJaccard, udfCodepointsFrom, udfCodepointsTo,
		udfBagMerge, udfMakeBag, udfBagSetKey, udfBagZip, udfBagHasKey,
		udfTranslate, udfRegexQuote, udfIndexOf, udfIndexOfRegex, udfHasAnyIndex,
		udfURLEncode, udfURLEncodeComponent, udfPunyFrom, udfPunyTo, udfPunyDomainFrom, udfPunyDomainTo,
		udfZlibCompress, udfZlibDecompress, udfFormatBytes,
		udfParseCSV, udfParseCommandLine, udfParsePath, udfParseURLQuery, udfParseVersion,
		udfHashText, udfHashLong, udfHashReal, udfHashCombine,
		udfBase64ToArray, udfBase64FromArray, udfBase64FromGUID, udfBase64ToGUID,
		udfErf, udfErfc, udfBetaCDF, udfBetaInv, udfBetaPDF, udfWelchTest, udfConvert,
		udfIPv4Match, udfIPv4Compare, udfIPv4InAnyRange, udfIPv4NetmaskSuffix, udfIPv4RangeToCIDR, udfParseIPv4Mask,
		udfFormatIPv4, udfFormatIPv4Mask,
		udfIPv6Compare, udfIPv6Match, udfIPv6InRange, udfIPv6InAnyRange, udfParseIPv6Mask,
		udfHasIPv4, udfHasIPv4Prefix, udfHasAnyIPv4, udfHasAnyIPv4Prefix,
		udfLocalToUTC, udfUTCToLocal, udfToDateTime,
	}
}

// --- translation helpers ---

// mfCall calls a udf; a string result is never null (Kusto's strings
// are not).
func mfCall(t *translator, c *Call, a []texpr, u udf) texpr {
	x := t.udfCall(c, a, u)
	if u.Result == tyString {
		x.sql = "coalesce(" + x.sql + ", '')"
	}
	return x
}

// mfString translates a function whose udf returns a string.
func mfString(u udf) func(t *translator, c *Call, a []texpr) texpr {
	return func(t *translator, c *Call, a []texpr) texpr { return mfCall(t, c, a, u) }
}

// mfPad appends default arguments up to n.
func mfPad(a []texpr, n int, defaults ...texpr) []texpr {
	out := append([]texpr(nil), a...)
	for i := len(a); i < n; i++ {
		d := defaults[len(defaults)-1]
		if k := i - (n - len(defaults)); k >= 0 && k < len(defaults) {
			d = defaults[k]
		}
		out = append(out, d)
	}
	return out
}

// mfLong is a long literal argument.
func mfLong(v int64) texpr { return texpr{sql: sqlLong(v), typ: tyLong} }

// mfNullDynamic is a null dynamic argument.
var mfNullDynamic = texpr{sql: "CAST(NULL AS JSON)", typ: tyDynamic}

// mfNeg negates argument i as a long.
func mfNeg(t *translator, c *Call, i int, x texpr) texpr {
	return texpr{sql: "(-" + t.arg(c, i, x, tyLong) + ")", typ: tyLong}
}

// mfIPText passes an IPv4 address given as a long as its number's text
// (the udfs read a string of digits as the address's number).
func mfIPText(t *translator, c *Call, a []texpr) []texpr {
	out := append([]texpr(nil), a...)
	if isIntegral(a[0].typ) {
		out[0] = texpr{sql: "CAST(" + a[0].sql + " AS VARCHAR)", typ: tyString}
	}
	return out
}

// mfRange translates range(start, stop[, step]): the values start,
// start+step, ... up to stop, at most 2^20 of them.
func mfRange(t *translator, c *Call, a []texpr) texpr {
	kind := tyLong
	for i, x := range a {
		switch x.typ {
		case tyDateTime:
			if i < 2 {
				kind = tyDateTime
			}
		case tyTimespan:
			if i < 2 && kind != tyDateTime {
				kind = tyTimespan
			}
		case tyLong, tyInt:
		default:
			if kind == tyLong {
				kind = tyReal
			}
		}
	}
	var s, e, st, elem string
	switch kind {
	case tyDateTime:
		s, e = "epoch_us("+t.arg(c, 0, a[0], tyDateTime)+")", "epoch_us("+t.arg(c, 1, a[1], tyDateTime)+")"
		st = "CAST(3600000000 AS BIGINT)"
		if len(a) == 3 {
			st = t.arg(c, 2, a[2], tyTimespan)
		}
		elem = datetimeText("make_timestamp(" + s + " + i * " + st + ")")
	case tyTimespan:
		s, e = t.arg(c, 0, a[0], tyTimespan), t.arg(c, 1, a[1], tyTimespan)
		st = "CAST(3600000000 AS BIGINT)"
		if len(a) == 3 {
			st = t.arg(c, 2, a[2], tyTimespan)
		}
		elem = timespanText("(" + s + " + i * " + st + ")")
	default:
		s, e = t.arg(c, 0, a[0], kind), t.arg(c, 1, a[1], kind)
		st = "CAST(1 AS " + sqlType(kind) + ")"
		if len(a) == 3 {
			st = t.arg(c, 2, a[2], kind)
		}
		elem = "(" + s + " + i * " + st + ")"
	}
	n := "least(greatest(CAST(floor(CAST(" + e + " - " + s + " AS DOUBLE) / " + st + ") AS BIGINT) + 1, 0), 1048576)"
	return texpr{sql: "CASE WHEN " + st + " <> 0 AND " + s + " IS NOT NULL AND " + e + " IS NOT NULL THEN to_json(list_transform(range(0, " + n + "), i -> " + elem + ")) END", typ: tyDynamic}
}

// mfArraySort translates array_sort_asc/desc(array1[, ..., arrayN][,
// nulls_last]): the first array sorted, the others in the same order. With
// several arrays the result is an array of the arrays (Kusto gives one
// column each; array_sort_asc(a, b)[1] reads the same in both).
func mfArraySort(asc bool) func(t *translator, c *Call, a []texpr) texpr {
	return func(t *translator, c *Call, a []texpr) texpr {
		nullsLast := texpr{sql: "TRUE", typ: tyBool}
		arrays := a
		if len(a) > 1 && a[len(a)-1].typ == tyBool {
			nullsLast, arrays = a[len(a)-1], a[:len(a)-1]
		}
		args := append([]texpr{{sql: strings.ToUpper(strconv.FormatBool(asc)), typ: tyBool}, nullsLast}, arrays...)
		// positions of the arguments for conversion errors
		cc := *c
		cc.Args = append([]Expr{c, c}, c.Args...)
		return mfCall(t, &cc, args, udfArraySort)
	}
}

// mfArrayIndexOf translates array_index_of(array, value[, start[,
// length[, occurrence]]]).
func mfArrayIndexOf(t *translator, c *Call, a []texpr) texpr {
	arr := t.arg(c, 0, a[0], tyDynamic)
	val := textOf(a[1])
	if a[1].typ == tyDateTime || a[1].typ == tyTimespan {
		val = toStringSQL(a[1])
	}
	if len(a) == 2 {
		return texpr{sql: "(coalesce(list_position(json_extract_string(" + arr + ", '$[*]'), " + val + "), 0) - 1)", typ: tyLong}
	}
	args := mfPad(a, 5, mfLong(-1), mfLong(1))
	args[1] = texpr{sql: val, typ: tyString}
	return mfCall(t, c, args, udfArrayIndexOf)
}

// mfHashText renders a value as the text Kusto's hash_md5, hash_sha1
// and hash_sha256 hash: a datetime with seven fraction digits.
func mfHashText(x texpr) string {
	if x.typ == tyDateTime {
		return "coalesce(strftime(" + x.sql + ", '%Y-%m-%dT%H:%M:%S.%f') || '0Z', '')"
	}
	return toStringSQL(x)
}

// mfHash translates hash(value[, mod]) (xxhash64): a string is hashed as
// its UTF-8 bytes, a number, datetime or timespan as its 8 little-endian
// bytes (datetimes and timespans in ticks), as Kusto does.
func mfHash(t *translator, c *Call, a []texpr) texpr {
	mod := mfLong(0) // none
	if len(a) == 2 {
		// a modulo that is not positive gives null
		m := t.arg(c, 1, a[1], tyLong)
		mod = texpr{sql: "CASE WHEN " + m + " > 0 THEN " + m + " END", typ: tyLong}
	}
	x := a[0]
	switch x.typ {
	case tyLong, tyInt, tyBool:
		return t.udfCall(c, []texpr{{sql: "CAST(" + x.sql + " AS BIGINT)", typ: tyLong}, mod}, udfHashLong)
	case tyDateTime:
		ticks := "(epoch_us(" + x.sql + ") * 10 + " + strconv.FormatInt(epochOffsetMicros*10, 10) + ")"
		return t.udfCall(c, []texpr{{sql: ticks, typ: tyLong}, mod}, udfHashLong)
	case tyTimespan:
		return t.udfCall(c, []texpr{{sql: "(" + x.sql + " * 10)", typ: tyLong}, mod}, udfHashLong)
	case tyReal, tyDecimal:
		return t.udfCall(c, []texpr{x, mod}, udfHashReal)
	}
	return t.udfCall(c, []texpr{{sql: toStringSQL(x), typ: tyString}, mod}, udfHashText)
}

// mfConvert translates convert_<kind>(value, from, to). Units written as
// literals are looked up when the query is translated.
func mfConvert(t *translator, c *Call, kind string, a []texpr) texpr {
	from, ok1 := a[1].str()
	to, ok2 := a[2].str()
	if ok1 && ok2 {
		v := t.arg(c, 0, a[0], tyReal)
		fu, fok := mfUnit(kind, from)
		tu, tok := mfUnit(kind, to)
		if !fok || !tok {
			return texpr{sql: "CAST(NULL AS DOUBLE)", typ: tyReal}
		}
		if fu.nonlinear || tu.nonlinear {
			return mfCall(t, c, []texpr{{sql: sqlString(kind), typ: tyString}, a[0], a[1], a[2]}, udfConvert)
		}
		// to = (v*scale/div + offset - offset') * div' / scale'
		fs, fd := fu.parts()
		ts, td := tu.parts()
		if fu.offset == 0 && tu.offset == 0 {
			return texpr{sql: "(" + v + " * " + sqlReal(fs*td) + " / " + sqlReal(fd*ts) + ")", typ: tyReal}
		}
		return texpr{sql: "((" + v + " * " + sqlReal(fs/fd) + " + " + sqlReal(fu.offset-tu.offset) + ") * " + sqlReal(td/ts) + ")", typ: tyReal}
	}
	cc := *c
	cc.Args = append([]Expr{c}, c.Args...)
	return mfCall(t, &cc, []texpr{{sql: sqlString(kind), typ: tyString}, a[0], a[1], a[2]}, udfConvert)
}

// mfToDateTime translates todatetime(value): Kusto's datetime text in
// the forms datetime() literals accept (ISO 8601, RFC 1123, MM-dd-yyyy,
// ...), ticks for a number.
func mfToDateTime(t *translator, c *Call, a []texpr) texpr {
	x := a[0]
	fromText := func(s string) string {
		// DuckDB's cast ignores a UTC offset: text with one is parsed in Go
		kql := udfToDateTime.Name + "(" + s + ")"
		return "CASE WHEN regexp_matches(" + s + ", '\\d:\\d\\d(?::\\d\\d(?:\\.\\d*)?)?\\s*[+-]\\d\\d:?\\d\\d\\s*$') THEN " + kql +
			" ELSE coalesce(TRY_CAST(" + s + " AS TIMESTAMP), " + kql + ", TRY_CAST(TRY_CAST(" + s + " AS TIMESTAMPTZ) AS TIMESTAMP)) END"
	}
	switch {
	case x.typ == tyDateTime:
		return x
	case x.typ == tyString || x.typ == tyGuid:
		return texpr{sql: fromText(x.sql), typ: tyDateTime}
	case x.typ == tyDynamic:
		return texpr{sql: fromText("json_extract_string(" + x.sql + ", '$')"), typ: tyDateTime}
	case isNumeric(x.typ):
		return texpr{sql: "try(make_timestamp(CAST(" + x.sql + " // 10 AS BIGINT) - " + strconv.FormatInt(epochOffsetMicros, 10) + "))", typ: tyDateTime} // ticks out of range (or NaN): null
	}
	return texpr{sql: sqlNull(tyDateTime), typ: tyDateTime}
}

// --- JSON ---

// mfParseJSON decodes JSON text keeping the order of object keys
// (objects become orderedBag) and numbers as written (json.Number).
func mfParseJSON(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	v, err := mfDecode(dec, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

// mfMaxDepth bounds the nesting of the JSON values the udfs decode.
const mfMaxDepth = 1000

// mfDecode decodes one JSON value from dec.
func mfDecode(dec *json.Decoder, depth int) (any, error) {
	if depth > mfMaxDepth {
		return nil, errors.New("JSON nested too deeply")
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	switch d {
	case '[':
		arr := []any{}
		for dec.More() {
			v, err := mfDecode(dec, depth+1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		_, err := dec.Token()
		return arr, err
	case '{':
		bag := orderedBag{}
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return nil, err
			}
			k, _ := kt.(string)
			v, err := mfDecode(dec, depth+1)
			if err != nil {
				return nil, err
			}
			bag = mfBagSet(bag, k, v)
		}
		_, err := dec.Token()
		return bag, err
	}
	return nil, fmt.Errorf("unexpected %v in JSON", d)
}

// mfJSON renders a decoded value as compact JSON (without escaping
// HTML characters, as DuckDB writes JSON).
func mfJSON(v any) string {
	var b strings.Builder
	mfWriteJSON(&b, v)
	return b.String()
}

// mfWriteJSON writes a decoded value as compact JSON.
func mfWriteJSON(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		b.WriteString(strconv.FormatBool(x))
	case string:
		mfWriteString(b, x)
	case json.Number:
		b.WriteString(string(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case int:
		b.WriteString(strconv.Itoa(x))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			b.WriteString("null")
			return
		}
		b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			mfWriteJSON(b, e)
		}
		b.WriteByte(']')
	case orderedBag:
		b.WriteByte('{')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			mfWriteString(b, e.k)
			b.WriteByte(':')
			mfWriteJSON(b, e.v)
		}
		b.WriteByte('}')
	default:
		j, err := json.Marshal(x)
		if err != nil {
			j = []byte("null")
		}
		b.Write(j)
	}
}

// mfWriteString writes a JSON string.
func mfWriteString(b *strings.Builder, s string) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	b.Write(bytes.TrimRight(buf.Bytes(), "\n"))
}

// mfText is the text of a JSON value as json_extract_string gives it:
// a string itself, other scalars as written, arrays and objects as JSON.
// ok is false for null.
func mfText(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		return x, true
	case json.Number:
		return string(x), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return mfJSON(v), true
}

// mfNumber reads a JSON value as a number.
func mfNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case float64:
		return x, true
	case int64:
		return float64(x), true
	}
	return 0, false
}

// mfInt reads a JSON value as an integer (a real is truncated).
func mfInt(v any) (int64, bool) {
	if n, ok := v.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			return i, true
		}
	}
	f, ok := mfNumber(v)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 9.2e18 {
		return 0, false
	}
	return int64(f), true
}

// mfBagGet returns the value of key in a bag.
func mfBagGet(b orderedBag, key string) (any, bool) {
	for _, e := range b {
		if e.k == key {
			return e.v, true
		}
	}
	return nil, false
}

// mfBagSet sets key in a bag, in place when it exists.
func mfBagSet(b orderedBag, key string, v any) orderedBag {
	for i, e := range b {
		if e.k == key {
			b[i].v = v
			return b
		}
	}
	return append(b, bagEntry{key, v})
}

// mfJSONPathKeys parses a JSONPath of property names ($.a.b, $['a'],
// $["a"].b); ok is false for array indexes, the root alone and other
// forms.
func mfJSONPathKeys(p string) ([]string, bool) {
	if !strings.HasPrefix(p, "$") {
		return nil, false
	}
	p = p[1:]
	var keys []string
	for len(p) > 0 {
		switch p[0] {
		case '.':
			p = p[1:]
			i := strings.IndexAny(p, ".[")
			if i < 0 {
				i = len(p)
			}
			if i == 0 {
				return nil, false
			}
			keys = append(keys, p[:i])
			p = p[i:]
		case '[':
			if len(p) < 2 || (p[1] != '\'' && p[1] != '"') {
				return nil, false
			}
			end := strings.IndexByte(p[2:], p[1])
			if end < 0 || !strings.HasPrefix(p[2+end+1:], "]") {
				return nil, false
			}
			keys = append(keys, p[2:2+end])
			p = p[2+end+2:]
		default:
			return nil, false
		}
	}
	return keys, len(keys) > 0
}

// --- udf argument helpers ---

// mfArgJSON decodes a dynamic argument; ok is false for null or text
// that is not JSON.
func mfArgJSON(a any) (any, bool) {
	s, ok := a.(string)
	if !ok {
		return nil, false
	}
	v, err := mfParseJSON(s)
	if err != nil || v == nil {
		return nil, false
	}
	return v, true
}

// mfArgArray decodes a dynamic argument that must be an array.
func mfArgArray(a any) ([]any, bool) {
	v, ok := mfArgJSON(a)
	if !ok {
		return nil, false
	}
	arr, ok := v.([]any)
	return arr, ok
}

// mfStrings flattens dynamic arguments (strings or arrays of strings) to
// their texts.
func mfStrings(args []any) []string {
	var out []string
	for _, a := range args {
		v, ok := mfArgJSON(a)
		if !ok {
			continue
		}
		if arr, ok := v.([]any); ok {
			for _, e := range arr {
				if s, ok := mfText(e); ok {
					out = append(out, s)
				}
			}
			continue
		}
		if s, ok := mfText(v); ok {
			out = append(out, s)
		}
	}
	return out
}

// --- arrays ---

// udfArrayIff is array_iff(condition, if_true, if_false): per element, the if_true or
// if_false value (or element); null where the condition is not a bool or
// number.
var udfArrayIff = udf{Name: "kql_array_iff", Args: []string{tyDynamic, tyDynamic, tyDynamic}, Result: tyDynamic, Fn: func(args []any) (any, error) {
	cond, ok := mfArgArray(args[0])
	if !ok {
		return nil, nil
	}
	pick := func(a any, i int) any {
		v, ok := mfArgJSON(a)
		if !ok {
			return nil
		}
		if arr, ok := v.([]any); ok {
			if i < len(arr) {
				return arr[i]
			}
			return nil
		}
		return v
	}
	out := make([]any, len(cond))
	for i, c := range cond {
		var truth, known bool
		switch x := c.(type) {
		case bool:
			truth, known = x, true
		default:
			if f, ok := mfNumber(x); ok {
				truth, known = f != 0, true
			}
		}
		switch {
		case !known:
			out[i] = nil
		case truth:
			out[i] = pick(args[1], i)
		default:
			out[i] = pick(args[2], i)
		}
	}
	return mfJSON(out), nil
}}

// udfArrayRotate is array_rotate_left(array, n); array_rotate_right passes -n.
var udfArrayRotate = udf{Name: "kql_array_rotate_left", Args: []string{tyDynamic, tyLong}, Result: tyDynamic, NullArgs: true, Fn: func(args []any) (any, error) {
	arr, ok := mfArgArray(args[0])
	n, ok2 := udfInt(args[1])
	if !ok || !ok2 {
		return nil, nil
	}
	if len(arr) == 0 {
		return "[]", nil
	}
	k := int(((n % int64(len(arr))) + int64(len(arr))) % int64(len(arr)))
	out := append(append([]any{}, arr[k:]...), arr[:k]...)
	return mfJSON(out), nil
}}

// udfArrayShift is array_shift_left(array, n, fill); array_shift_right passes -n.
var udfArrayShift = udf{Name: "kql_array_shift_left", Args: []string{tyDynamic, tyLong, tyDynamic}, Result: tyDynamic, Fn: func(args []any) (any, error) {
	arr, ok := mfArgArray(args[0])
	n, ok2 := udfInt(args[1])
	if !ok || !ok2 {
		return nil, nil
	}
	fill, _ := mfArgJSON(args[2])
	out := make([]any, len(arr))
	for i := range out {
		j := int64(i) + n
		if j >= 0 && j < int64(len(arr)) {
			out[i] = arr[j]
		} else {
			out[i] = fill
		}
	}
	return mfJSON(out), nil
}}

// udfArraySplit is array_split(array, index or indexes): the slices between the
// indexes (a negative one counts from the end).
var udfArraySplit = udf{Name: "kql_array_split", Args: []string{tyDynamic, tyDynamic}, Result: tyDynamic, NullArgs: true, Fn: func(args []any) (any, error) {
	arr, ok := mfArgArray(args[0])
	idx, ok2 := mfArgJSON(args[1])
	if !ok || !ok2 {
		return nil, nil
	}
	list, isArr := idx.([]any)
	if !isArr {
		list = []any{idx}
	}
	n := int64(len(arr))
	var out []any
	prev := int64(0)
	for _, e := range list {
		i, ok := mfInt(e)
		if !ok {
			return nil, nil
		}
		if i < 0 {
			i += n
		}
		i = max(min(i, n), prev)
		out = append(out, append([]any{}, arr[prev:i]...))
		prev = i
	}
	out = append(out, append([]any{}, arr[prev:]...))
	return mfJSON(out), nil
}}

// udfArraySort sorts its first array argument and orders the others the
// same way: kql_array_sort(ascending, nulls_last, array1, ...).
var udfArraySort = udf{Name: "kql_array_sort", Args: []string{tyBool, tyBool}, Variadic: tyDynamic, Result: tyDynamic, Fn: func(args []any) (any, error) {
	asc, _ := args[0].(bool)
	nullsLast, ok := args[1].(bool)
	if !ok {
		nullsLast = true
	}
	if len(args) < 3 {
		return nil, nil
	}
	first, ok := mfArgArray(args[2])
	if !ok {
		return nil, nil
	}
	perm := make([]int, len(first))
	for i := range perm {
		perm[i] = i
	}
	sort.SliceStable(perm, func(i, j int) bool {
		x, y := first[perm[i]], first[perm[j]]
		if x == nil || y == nil {
			if x == nil && y == nil {
				return false
			}
			return (x == nil) != nullsLast
		}
		c := mfCompare(x, y)
		if asc {
			return c < 0
		}
		return c > 0
	})
	reorder := func(arr []any) []any {
		out := make([]any, len(arr))
		for i, p := range perm {
			out[i] = arr[p]
		}
		return out
	}
	if len(args) == 3 {
		return mfJSON(reorder(first)), nil
	}
	all := []any{reorder(first)}
	for _, a := range args[3:] {
		arr, ok := mfArgArray(a)
		if !ok || len(arr) != len(first) {
			all = append(all, nil)
			continue
		}
		all = append(all, reorder(arr))
	}
	return mfJSON(all), nil
}}

// mfCompare orders two non-null JSON values as Kusto's array sorts do:
// numbers (and datetimes) first, then strings, then the rest.
func mfCompare(x, y any) int {
	rank := func(v any) int {
		switch v.(type) {
		case json.Number:
			return 0
		case string:
			return 1
		}
		return 2
	}
	rx, ry := rank(x), rank(y)
	if rx != ry {
		return rx - ry
	}
	switch rx {
	case 0:
		a, _ := mfNumber(x)
		b, _ := mfNumber(y)
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
		return 0
	case 1:
		a, b := x.(string), y.(string)
		if ta, ok := mfDynTime(a); ok {
			if tb, ok := mfDynTime(b); ok {
				return ta.Compare(tb)
			}
		}
		return strings.Compare(a, b)
	}
	return strings.Compare(mfJSON(x), mfJSON(y))
}

// mfDynTime reads a datetime held in a dynamic value (ISO 8601 text).
func mfDynTime(s string) (time.Time, bool) {
	if len(s) < 20 || s[4] != '-' || s[10] != 'T' {
		return time.Time{}, false
	}
	tm, err := time.Parse(time.RFC3339Nano, s)
	return tm, err == nil
}

// mfSearchRange computes where array_index_of and indexof search: the
// start (a negative one counts from the end) and the end of the first
// search; ok false when the arguments are out of their domains.
func mfSearchRange(n, start, length, occurrence int64) (int64, bool) {
	if start < 0 {
		start += n
	}
	if start < 0 || length < -1 || occurrence < 0 {
		return 0, false
	}
	return start, true
}

// mfOccurrence returns the position of the occ-th match (at(i) true for a
// match of width w at i) searching from start over length positions
// (-1: to the end of n), each further occurrence from the position after
// the previous one, over length positions again; -1 when there is none or
// occ is 0.
func mfOccurrence(n, start, length, occ, w int64, at func(i int64) bool) int64 {
	found := int64(-1)
	for k := int64(0); k < occ; k++ {
		end := n
		if length >= 0 {
			end = min(start+length, n)
		}
		found = -1
		for i := start; i+w <= end; i++ {
			if at(i) {
				found = i
				break
			}
		}
		if found < 0 {
			break
		}
		start = found + 1
	}
	return found
}

// udfArrayIndexOf is array_index_of(array, text of the value, start, length,
// occurrence); each further occurrence is searched from the element after
// the previous one, over length elements again.
var udfArrayIndexOf = udf{Name: "kql_array_index_of", Args: []string{tyDynamic, tyString, tyLong, tyLong, tyLong}, Result: tyLong, NullArgs: true, Fn: func(args []any) (any, error) {
	arr, ok := mfArgArray(args[0])
	if !ok {
		return nil, nil
	}
	want, _ := args[1].(string)
	start, _ := udfInt(args[2])
	length, _ := udfInt(args[3])
	occ, _ := udfInt(args[4])
	n := int64(len(arr))
	start, ok = mfSearchRange(n, start, length, occ)
	if !ok {
		return nil, nil
	}
	return mfOccurrence(n, start, length, occ, 1, func(i int64) bool {
		s, ok := mfText(arr[i])
		return ok && s == want
	}), nil
}}

// udfJaccard is jaccard_index(set1, set2) of the distinct elements.
var udfJaccard = udf{Name: "kql_jaccard_index", Args: []string{tyDynamic, tyDynamic}, Result: tyReal, NullArgs: true, Fn: func(args []any) (any, error) {
	a, ok := mfArgArray(args[0])
	b, ok2 := mfArgArray(args[1])
	if !ok || !ok2 {
		return nil, nil
	}
	set := func(arr []any) map[string]bool {
		m := map[string]bool{}
		for _, e := range arr {
			m[mfJSON(e)] = true
		}
		return m
	}
	sa, sb := set(a), set(b)
	inter := 0
	for k := range sa {
		if sb[k] {
			inter++
		}
	}
	union := len(sa) + len(sb) - inter
	if union == 0 {
		return math.NaN(), nil
	}
	return float64(inter) / float64(union), nil
}}

// udfCodepointsFrom is unicode_codepoints_from_string(text).
var udfCodepointsFrom = udf{Name: "kql_unicode_codepoints_from_string", Args: []string{tyString}, Result: tyDynamic, NullArgs: true, Fn: func(args []any) (any, error) {
	s, _ := args[0].(string)
	out := make([]any, 0, len(s))
	for _, r := range s {
		out = append(out, int64(r))
	}
	return mfJSON(out), nil
}}

// udfCodepointsTo is unicode_codepoints_to_string(codepoints or arrays of them, ...).
var udfCodepointsTo = udf{Name: "kql_unicode_codepoints_to_string", Variadic: tyDynamic, Result: tyString, Fn: func(args []any) (any, error) {
	var b strings.Builder
	add := func(v any) bool {
		n, ok := mfInt(v)
		if !ok || n < 0 || n > utf8.MaxRune {
			return false
		}
		b.WriteRune(rune(n))
		return true
	}
	for _, a := range args {
		v, ok := mfArgJSON(a)
		if !ok {
			return nil, nil
		}
		if arr, ok := v.([]any); ok {
			for _, e := range arr {
				if !add(e) {
					return nil, nil
				}
			}
			continue
		}
		if !add(v) {
			return nil, nil
		}
	}
	return b.String(), nil
}}

// --- property bags ---

// udfBagMerge is bag_merge(bag1, bag2, ...): a key keeps its first value.
var udfBagMerge = udf{Name: "kql_bag_merge", Variadic: tyDynamic, Result: tyDynamic, Fn: func(args []any) (any, error) {
	out := orderedBag{}
	for _, a := range args {
		v, _ := mfArgJSON(a)
		bag, ok := v.(orderedBag)
		if !ok {
			continue
		}
		for _, e := range bag {
			if _, dup := mfBagGet(out, e.k); !dup {
				out = append(out, e)
			}
		}
	}
	return mfJSON(out), nil
}}

// udfMakeBag merges a group's bags for make_bag: a JSON array of values,
// of which the bags count; a key's first value is kept (Kusto keeps an
// arbitrary one), and at most maxSize keys.
var udfMakeBag = udf{Name: "kql_make_bag", Args: []string{tyDynamic, tyLong}, Result: tyDynamic, NullArgs: true, Fn: func(args []any) (any, error) {
	v, _ := mfArgJSON(args[0])
	values, _ := v.([]any)
	maxSize, _ := args[1].(int64)
	out := orderedBag{}
	seen := map[string]bool{}
	for _, value := range values {
		bag, ok := value.(orderedBag)
		if !ok {
			continue
		}
		for _, e := range bag {
			if !seen[e.k] && int64(len(out)) < maxSize {
				seen[e.k] = true
				out = append(out, e)
			}
		}
	}
	return mfJSON(out), nil
}}

// udfBagSetKey is bag_set_key(bag, key or JSONPath, value), creating the bags of a
// path that are missing.
var udfBagSetKey = udf{Name: "kql_bag_set_key", Args: []string{tyDynamic, tyString, tyDynamic}, Result: tyDynamic, Fn: func(args []any) (any, error) {
	v, _ := mfArgJSON(args[0])
	bag, ok := v.(orderedBag)
	key, ok2 := args[1].(string)
	if !ok || !ok2 {
		return nil, nil
	}
	keys := []string{key}
	if strings.HasPrefix(key, "$") {
		if keys, ok = mfJSONPathKeys(key); !ok {
			return nil, nil
		}
	}
	val, _ := mfArgJSON(args[2])
	var set func(b orderedBag, keys []string) orderedBag
	set = func(b orderedBag, keys []string) orderedBag {
		if len(keys) == 1 {
			return mfBagSet(b, keys[0], val)
		}
		cur, _ := mfBagGet(b, keys[0])
		inner, _ := cur.(orderedBag)
		return mfBagSet(b, keys[0], set(append(orderedBag{}, inner...), keys[1:]))
	}
	return mfJSON(set(bag, keys)), nil
}}

// udfBagZip is bag_zip(keys, values): keys that are not strings are skipped, a
// missing value is null.
var udfBagZip = udf{Name: "kql_bag_zip", Args: []string{tyDynamic, tyDynamic}, Result: tyDynamic, Fn: func(args []any) (any, error) {
	keys, ok := mfArgArray(args[0])
	if !ok {
		return nil, nil
	}
	vals, _ := mfArgArray(args[1])
	out := orderedBag{}
	for i, k := range keys {
		ks, ok := k.(string)
		if !ok {
			continue
		}
		var v any
		if i < len(vals) {
			v = vals[i]
		}
		out = mfBagSet(out, ks, v)
	}
	return mfJSON(out), nil
}}

// udfBagHasKey is bag_has_key(bag, key or JSONPath) for a key that is not a literal.
var udfBagHasKey = udf{Name: "kql_bag_has_key", Args: []string{tyDynamic, tyString}, Result: tyBool, Fn: func(args []any) (any, error) {
	v, _ := mfArgJSON(args[0])
	key, ok := args[1].(string)
	if !ok {
		return false, nil
	}
	keys := []string{key}
	if strings.HasPrefix(key, "$") {
		if keys, ok = mfJSONPathKeys(key); !ok {
			return false, nil
		}
	}
	for _, k := range keys {
		bag, ok := v.(orderedBag)
		if !ok {
			return false, nil
		}
		if v, ok = mfBagGet(bag, k); !ok {
			return false, nil
		}
	}
	return true, nil
}}

// --- strings ---

// udfTranslate is translate(searchList, replacementList, source): a character of
// searchList beyond replacementList becomes its last character; an empty
// replacementList deletes them.
var udfTranslate = udf{Name: "kql_translate", Args: []string{tyString, tyString, tyString}, Result: tyString, NullArgs: true, Fn: func(args []any) (any, error) {
	search, _ := args[0].(string)
	repl := []rune(args[1].(string))
	src, _ := args[2].(string)
	m := map[rune]int{}
	for i, r := range []rune(search) {
		if _, dup := m[r]; !dup {
			m[r] = i
		}
	}
	var b strings.Builder
	for _, r := range src {
		i, ok := m[r]
		switch {
		case !ok:
			b.WriteRune(r)
		case len(repl) == 0:
		case i < len(repl):
			b.WriteRune(repl[i])
		default:
			b.WriteRune(repl[len(repl)-1])
		}
	}
	return b.String(), nil
}}

// udfRegexQuote escapes as RE2's QuoteMeta (Kusto's regular expressions
// are RE2's): every ASCII byte other than a letter, digit or '_'.
var udfRegexQuote = udf{Name: "kql_regex_quote", Args: []string{tyString}, Result: tyString, NullArgs: true, Fn: func(args []any) (any, error) {
	s, _ := args[0].(string)
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80, c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			b.WriteByte(c)
		case c == 0:
			b.WriteString(`\x00`)
		default:
			b.WriteByte('\\')
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}}

// udfIndexOf is indexof(source, lookup, start, length, occurrence) in
// characters; each further occurrence is searched from the character after
// the previous one, over length characters again.
var udfIndexOf = udf{Name: "kql_indexof", Args: []string{tyString, tyString, tyLong, tyLong, tyLong}, Result: tyLong, NullArgs: true, Fn: func(args []any) (any, error) {
	src := []rune(args[0].(string))
	sub := []rune(args[1].(string))
	start, _ := udfInt(args[2])
	length, _ := udfInt(args[3])
	occ, _ := udfInt(args[4])
	n := int64(len(src))
	start, ok := mfSearchRange(n, start, length, occ)
	if !ok {
		return nil, nil
	}
	w := int64(len(sub))
	return mfOccurrence(n, start, length, occ, w, func(i int64) bool { return string(src[i:i+w]) == string(sub) }), nil
}}

// mfRegexCache keeps compiled regular expressions of udfs by pattern.
var mfRegexCache sync.Map

// mfRegexCacheSize bounds mfRegexCache.
const mfRegexCacheSize = 1024

// mfRegexCacheLen counts the entries of mfRegexCache, under
// mfRegexCacheMu.
var (
	mfRegexCacheLen int64
	mfRegexCacheMu  sync.Mutex
)

// mfRegex compiles a pattern, caching the first mfRegexCacheSize ones.
func mfRegex(p string) (*regexp.Regexp, error) {
	if r, ok := mfRegexCache.Load(p); ok {
		return r.(*regexp.Regexp), nil
	}
	r, err := regexp.Compile(p)
	if err != nil {
		return nil, err
	}
	mfRegexCacheMu.Lock()
	if mfRegexCacheLen < mfRegexCacheSize {
		mfRegexCache.Store(p, r)
		mfRegexCacheLen++
	}
	mfRegexCacheMu.Unlock()
	return r, nil
}

// udfIndexOfRegex is indexof_regex(source, regex, start, length, occurrence):
// matches do not overlap; a negative start gives null.
var udfIndexOfRegex = udf{Name: "kql_indexof_regex", Args: []string{tyString, tyString, tyLong, tyLong, tyLong}, Result: tyLong, NullArgs: true, Fn: func(args []any) (any, error) {
	src, _ := args[0].(string)
	re, err := mfRegex(args[1].(string))
	if err != nil {
		return nil, nil
	}
	start, _ := udfInt(args[2])
	length, _ := udfInt(args[3])
	occ, _ := udfInt(args[4])
	if start < 0 || length < -1 || occ < 0 {
		return nil, nil
	}
	// character positions to byte offsets
	offs := make([]int, 0, len(src)+1)
	for i := range src {
		offs = append(offs, i)
	}
	offs = append(offs, len(src))
	n := int64(len(offs) - 1)
	if start > n {
		return int64(-1), nil
	}
	end := n
	if length >= 0 {
		end = min(start+length, n)
	}
	window := src[offs[start]:offs[end]]
	locs := re.FindAllStringIndex(window, -1)
	if occ == 0 || int64(len(locs)) < occ {
		return int64(-1), nil
	}
	b := offs[start] + locs[occ-1][0]
	return int64(utf8.RuneCountInString(src[:b])), nil
}}

// udfHasAnyIndex is has_any_index(source, lookups): the index of the first lookup
// source has (as the has operator finds terms), -1 for none.
var udfHasAnyIndex = udf{Name: "kql_has_any_index", Args: []string{tyString, tyDynamic}, Result: tyLong, NullArgs: true, Fn: func(args []any) (any, error) {
	src, _ := args[0].(string)
	arr, ok := mfArgArray(args[1])
	if !ok {
		return int64(-1), nil
	}
	low := strings.ToLower(src)
	for i, e := range arr {
		term, ok := mfText(e)
		if ok && mfHas(low, strings.ToLower(term)) {
			return int64(i), nil
		}
	}
	return int64(-1), nil
}}

// mfHas reports whether term occurs in s as Kusto's has finds it: not
// inside a longer run of ASCII letters and digits. Both are lower case.
func mfHas(s, term string) bool {
	if term == "" {
		return true
	}
	for from := 0; from <= len(s)-len(term); {
		i := strings.Index(s[from:], term)
		if i < 0 {
			return false
		}
		i += from
		j := i + len(term)
		okL := i == 0 || !isTermChar(term[0]) || !isTermChar(s[i-1])
		okR := j == len(s) || !isTermChar(term[len(term)-1]) || !isTermChar(s[j])
		if okL && okR {
			return true
		}
		from = i + 1
	}
	return false
}

// mfURLEncode encodes as .NET's HttpUtility.UrlEncode, which Kusto uses:
// letters, digits and -_.!*() are kept, a space is space (+ or %20), other
// bytes of the UTF-8 text are %xx in lower case.
func mfURLEncode(s, space string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("-_.!*()", c) >= 0:
			b.WriteByte(c)
		case c == ' ':
			b.WriteString(space)
		default:
			fmt.Fprintf(&b, "%%%02x", c)
		}
	}
	return b.String()
}

// udfURLEncode is url_encode(url): a space is +.
var udfURLEncode = udf{Name: "kql_url_encode", Args: []string{tyString}, Result: tyString, NullArgs: true, Fn: func(args []any) (any, error) {
	return mfURLEncode(args[0].(string), "+"), nil
}}

// udfURLEncodeComponent is url_encode_component(url): a space is %20.
var udfURLEncodeComponent = udf{Name: "kql_url_encode_component", Args: []string{tyString}, Result: tyString, NullArgs: true, Fn: func(args []any) (any, error) {
	return mfURLEncode(args[0].(string), "%20"), nil
}}

// mfZlib compresses as zlib at its fastest level, which Kusto uses: a
// text that does not compress is written in stored blocks.
func mfZlib(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := zlib.NewWriterLevel(&buf, zlib.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	if stored := 2 + 5*max(1, (len(data)+65534)/65535) + len(data) + 4; buf.Len() < stored {
		return buf.Bytes(), nil
	}
	out := []byte{0x78, 0x01}
	for i := 0; ; {
		n := min(65535, len(data)-i)
		final := byte(0)
		if i+n == len(data) {
			final = 1
		}
		out = append(out, final, byte(n), byte(n>>8), ^byte(n), ^byte(n>>8))
		out = append(out, data[i:i+n]...)
		i += n
		if final == 1 {
			break
		}
	}
	return binary.BigEndian.AppendUint32(out, adler32.Checksum(data)), nil
}

// udfZlibCompress is zlib_compress_to_base64_string(text).
var udfZlibCompress = udf{Name: "kql_zlib_compress_to_base64_string", Args: []string{tyString}, Result: tyString, NullArgs: true, Fn: func(args []any) (any, error) {
	b, err := mfZlib([]byte(args[0].(string)))
	if err != nil {
		return nil, err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}}

// mfMaxInflate bounds what zlib_decompress_from_base64_string inflates.
const mfMaxInflate = 64 << 20

// udfZlibDecompress is zlib_decompress_from_base64_string(text): "" for input that is
// not base64 zlib data of UTF-8 text, or that inflates past mfMaxInflate.
var udfZlibDecompress = udf{Name: "kql_zlib_decompress_from_base64_string", Args: []string{tyString}, Result: tyString, NullArgs: true, Fn: func(args []any) (any, error) {
	raw, err := base64.StdEncoding.DecodeString(args[0].(string))
	if err != nil {
		return "", nil
	}
	r, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		return "", nil
	}
	out, err := io.ReadAll(io.LimitReader(r, mfMaxInflate+1))
	if err != nil || len(out) > mfMaxInflate || !utf8.Valid(out) {
		return "", nil
	}
	return string(out), nil
}}

// udfFormatBytes is format_bytes(size, precision, units): units "" chooses the
// largest unit of 1024^k that the size reaches.
var udfFormatBytes = udf{Name: "kql_format_bytes", Args: []string{tyReal, tyLong, tyString}, Result: tyString, Fn: func(args []any) (any, error) {
	v, ok := udfFloat(args[0])
	if !ok {
		return "", nil
	}
	prec, _ := udfInt(args[1])
	prec = max(min(prec, 15), 0)
	unit, _ := args[2].(string)
	units := []string{"Bytes", "KB", "MB", "GB", "TB", "PB", "EB"}
	k := -1
	for i, u := range units {
		if strings.EqualFold(u, unit) {
			k = i
		}
	}
	if k < 0 {
		if unit != "" {
			return "", nil
		}
		k = 0
		for k < len(units)-1 && math.Abs(v) >= math.Pow(1024, float64(k+1)) {
			k++
		}
	}
	x := v / math.Pow(1024, float64(k))
	p := math.Pow(10, float64(prec))
	x = math.Round(x*p) / p
	return strconv.FormatFloat(x, 'f', -1, 64) + " " + units[k], nil
}}

// --- punycode (RFC 3492) ---

// The parameters of punycode (RFC 3492, section 5).
const (
	mfPunyBase        = 36
	mfPunyTMin        = 1
	mfPunyTMax        = 26
	mfPunySkew        = 38
	mfPunyDamp        = 700
	mfPunyInitialBias = 72
	mfPunyInitialN    = 128
)

// mfPunyAdapt is the bias adaptation of RFC 3492, section 6.1.
func mfPunyAdapt(delta, numPoints int, first bool) int {
	if first {
		delta /= mfPunyDamp
	} else {
		delta /= 2
	}
	delta += delta / numPoints
	k := 0
	for delta > ((mfPunyBase-mfPunyTMin)*mfPunyTMax)/2 {
		delta /= mfPunyBase - mfPunyTMin
		k += mfPunyBase
	}
	return k + (mfPunyBase-mfPunyTMin+1)*delta/(delta+mfPunySkew)
}

// mfPunyDigit writes a base-36 digit of punycode.
func mfPunyDigit(d int) byte {
	if d < 26 {
		return byte('a' + d)
	}
	return byte('0' + d - 26)
}

// mfPunyEncode encodes a string as punycode (without the xn-- prefix).
func mfPunyEncode(s string) (string, bool) {
	runes := []rune(s)
	var out []byte
	for _, r := range runes {
		if r < 0x80 {
			out = append(out, byte(r))
		}
	}
	b := len(out)
	h := b
	if b > 0 {
		out = append(out, '-')
	}
	n, delta, bias := mfPunyInitialN, 0, mfPunyInitialBias
	for h < len(runes) {
		m := math.MaxInt32
		for _, r := range runes {
			if int(r) >= n && int(r) < m {
				m = int(r)
			}
		}
		if (m - n) > (math.MaxInt32-delta)/(h+1) {
			return "", false
		}
		delta += (m - n) * (h + 1)
		n = m
		for _, r := range runes {
			if int(r) < n {
				delta++
			}
			if int(r) == n {
				q := delta
				for k := mfPunyBase; ; k += mfPunyBase {
					t := k - bias
					if t < mfPunyTMin {
						t = mfPunyTMin
					} else if t > mfPunyTMax {
						t = mfPunyTMax
					}
					if q < t {
						break
					}
					out = append(out, mfPunyDigit(t+(q-t)%(mfPunyBase-t)))
					q = (q - t) / (mfPunyBase - t)
				}
				out = append(out, mfPunyDigit(q))
				bias = mfPunyAdapt(delta, h+1, h == b)
				delta = 0
				h++
			}
		}
		delta++
		n++
	}
	return string(out), true
}

// mfPunyDecode decodes punycode (without the xn-- prefix).
func mfPunyDecode(s string) (string, bool) {
	var out []rune
	basic := strings.LastIndexByte(s, '-')
	if basic > 0 {
		for _, c := range []byte(s[:basic]) {
			if c >= 0x80 {
				return "", false
			}
			out = append(out, rune(c))
		}
	}
	n, i, bias := mfPunyInitialN, 0, mfPunyInitialBias
	for in := basic + 1; in < len(s); {
		oldi, w := i, 1
		for k := mfPunyBase; ; k += mfPunyBase {
			if in >= len(s) {
				return "", false
			}
			c := s[in]
			in++
			var d int
			switch {
			case c >= '0' && c <= '9':
				d = int(c-'0') + 26
			case c >= 'a' && c <= 'z':
				d = int(c - 'a')
			case c >= 'A' && c <= 'Z':
				d = int(c - 'A')
			default:
				return "", false
			}
			if d > (math.MaxInt32-i)/w {
				return "", false
			}
			i += d * w
			t := k - bias
			if t < mfPunyTMin {
				t = mfPunyTMin
			} else if t > mfPunyTMax {
				t = mfPunyTMax
			}
			if d < t {
				break
			}
			if w > math.MaxInt32/(mfPunyBase-t) {
				return "", false
			}
			w *= mfPunyBase - t
		}
		bias = mfPunyAdapt(i-oldi, len(out)+1, oldi == 0)
		if i/(len(out)+1) > math.MaxInt32-n {
			return "", false
		}
		n += i / (len(out) + 1)
		i %= len(out) + 1
		if n > utf8.MaxRune || (n >= 0xD800 && n <= 0xDFFF) {
			return "", false
		}
		out = append(out[:i], append([]rune{rune(n)}, out[i:]...)...)
		i++
	}
	return string(out), true
}

// stringUDF is a udf of one string whose result is f's, or null where f
// reports none.
func stringUDF[T any](name, result string, f func(string) (T, bool)) udf {
	return udf{Name: name, Args: []string{tyString}, Result: result, NullArgs: true, Fn: func(args []any) (any, error) {
		v, ok := f(args[0].(string))
		if !ok {
			return nil, nil
		}
		return v, nil
	}}
}

// udfPunyFrom is punycode_from_string(text).
var udfPunyFrom = stringUDF("kql_punycode_from_string", tyString, mfPunyEncode)

// udfPunyTo is punycode_to_string(punycode).
var udfPunyTo = stringUDF("kql_punycode_to_string", tyString, mfPunyDecode)

// udfPunyDomainFrom is punycode_domain_from_string(domain): each label that is not
// ASCII becomes xn--<punycode>.
var udfPunyDomainFrom = udf{Name: "kql_punycode_domain_from_string", Args: []string{tyString}, Result: tyString, NullArgs: true, Fn: func(args []any) (any, error) {
	labels := strings.Split(args[0].(string), ".")
	for i, l := range labels {
		if mfIsASCII(l) {
			continue
		}
		p, ok := mfPunyEncode(l)
		if !ok {
			return nil, nil
		}
		labels[i] = "xn--" + p
	}
	return strings.Join(labels, "."), nil
}}

// udfPunyDomainTo is punycode_domain_to_string(domain): each xn-- label is decoded.
var udfPunyDomainTo = udf{Name: "kql_punycode_domain_to_string", Args: []string{tyString}, Result: tyString, NullArgs: true, Fn: func(args []any) (any, error) {
	labels := strings.Split(args[0].(string), ".")
	for i, l := range labels {
		if len(l) < 4 || !strings.EqualFold(l[:4], "xn--") {
			continue
		}
		s, ok := mfPunyDecode(l[4:])
		if !ok {
			return nil, nil
		}
		labels[i] = s
	}
	return strings.Join(labels, "."), nil
}}

// mfIsASCII reports whether s is all ASCII.
func mfIsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// --- parsers ---

// mfParseCSV reads the first record of CSV text: fields separated by
// commas, a field in double quotes may hold commas, line breaks and ""
// for a quote.
func mfParseCSV(s string) []any {
	fields := []any{}
	var b strings.Builder
	i := 0
	for {
		b.Reset()
		if i < len(s) && s[i] == '"' {
			i++
			for i < len(s) {
				if s[i] == '"' {
					if i+1 < len(s) && s[i+1] == '"' {
						b.WriteByte('"')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(s[i])
				i++
			}
		}
		for i < len(s) && s[i] != ',' && s[i] != '\n' && s[i] != '\r' {
			b.WriteByte(s[i])
			i++
		}
		fields = append(fields, b.String())
		if i < len(s) && s[i] == ',' {
			i++
			continue
		}
		return fields
	}
}

// udfParseCSV is parse_csv(text).
var udfParseCSV = udf{Name: "kql_parse_csv", Args: []string{tyString}, Result: tyDynamic, NullArgs: true, Fn: func(args []any) (any, error) {
	return mfJSON(mfParseCSV(args[0].(string))), nil
}}

// mfWindowsArgs splits a command line as Windows' CommandLineToArgvW
// does: the program name up to a space (or in quotes, taken literally),
// then arguments separated by spaces and tabs, where quotes group, ""
// inside quotes is a quote, and 2n backslashes before a quote are n
// backslashes (2n+1: n and a literal quote).
func mfWindowsArgs(s string) []string {
	args := []string{}
	i, n := 0, len(s)
	for i < n && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	if i >= n {
		return args
	}
	if s[i] == '"' {
		j := strings.IndexByte(s[i+1:], '"')
		if j < 0 {
			return append(args, s[i+1:])
		}
		args = append(args, s[i+1:i+1+j])
		i += j + 2
	} else {
		j := i
		for j < n && s[j] != ' ' && s[j] != '\t' {
			j++
		}
		args = append(args, s[i:j])
		i = j
	}
	for {
		for i < n && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= n {
			return args
		}
		var b strings.Builder
		inQuote := false
		for i < n {
			c := s[i]
			if (c == ' ' || c == '\t') && !inQuote {
				break
			}
			switch c {
			case '\\':
				j := i
				for j < n && s[j] == '\\' {
					j++
				}
				nb := j - i
				if j < n && s[j] == '"' {
					b.WriteString(strings.Repeat(`\`, nb/2))
					if nb%2 == 1 {
						b.WriteByte('"')
						j++
					}
				} else {
					b.WriteString(strings.Repeat(`\`, nb))
				}
				i = j
			case '"':
				if inQuote && i+1 < n && s[i+1] == '"' {
					b.WriteByte('"')
					i += 2
					continue
				}
				inQuote = !inQuote
				i++
			default:
				b.WriteByte(c)
				i++
			}
		}
		args = append(args, b.String())
	}
}

// udfParseCommandLine is parse_command_line(command line, parser).
var udfParseCommandLine = udf{Name: "kql_parse_command_line", Args: []string{tyString, tyString}, Result: tyDynamic, NullArgs: true, Fn: func(args []any) (any, error) {
	if !strings.EqualFold(args[1].(string), "windows") {
		return nil, nil
	}
	words := mfWindowsArgs(args[0].(string))
	out := make([]any, len(words))
	for i, w := range words {
		out[i] = w
	}
	return mfJSON(out), nil
}}

var mfScheme = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]+)://`)

// mfParsePath splits a file path as Kusto's parse_path does.
func mfParsePath(p string) orderedBag {
	scheme := ""
	rest := p
	if m := mfScheme.FindStringSubmatch(p); m != nil {
		scheme, rest = m[1], p[len(m[0]):]
	}
	root := ""
	if len(rest) >= 2 && rest[1] == ':' && (rest[0] >= 'A' && rest[0] <= 'Z' || rest[0] >= 'a' && rest[0] <= 'z') {
		root = rest[:2]
	}
	dir, file := "", rest
	if i := strings.LastIndexAny(rest, `/\`); i >= 0 {
		dir, file = rest[:i], rest[i+1:]
		if dir == root || strings.Trim(dir, `/\`) == "" {
			// the root directory keeps its separator
			dir = rest[:i+1]
		}
	} else if root != "" {
		dir, file = root, rest[2:]
	}
	stream := ""
	if i := strings.IndexByte(file, ':'); i >= 0 {
		file, stream = file[:i], file[i+1:]
	}
	dirName := strings.TrimRight(dir, `/\`)
	if i := strings.LastIndexAny(dirName, `/\`); i >= 0 {
		dirName = dirName[i+1:]
	}
	if dirName == root {
		dirName = ""
	}
	ext := ""
	if i := strings.LastIndexByte(file, '.'); i >= 0 {
		ext = file[i+1:]
	}
	return orderedBag{
		{"Scheme", scheme}, {"RootPath", root}, {"DirectoryPath", dir}, {"DirectoryName", dirName},
		{"Filename", file}, {"Extension", ext}, {"AlternateDataStreamName", stream},
	}
}

// udfParsePath is parse_path(path).
var udfParsePath = udf{Name: "kql_parse_path", Args: []string{tyString}, Result: tyDynamic, NullArgs: true, Fn: func(args []any) (any, error) {
	return mfJSON(mfParsePath(args[0].(string))), nil
}}

// mfParseURLQuery reads a URL query string (a=1&b=2) as Kusto's
// parse_urlquery: {"Query Parameters": {"a": "1", "b": "2"}}.
func mfParseURLQuery(q string) orderedBag {
	q = strings.TrimPrefix(q, "?")
	params := orderedBag{}
	for _, p := range strings.Split(q, "&") {
		if p == "" {
			continue
		}
		k, v, _ := strings.Cut(p, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		params = mfBagSet(params, k, v)
	}
	return orderedBag{{"Query Parameters", params}}
}

// udfParseURLQuery is parse_urlquery(query).
var udfParseURLQuery = udf{Name: "kql_parse_urlquery", Args: []string{tyString}, Result: tyDynamic, NullArgs: true, Fn: func(args []any) (any, error) {
	return mfJSON(mfParseURLQuery(args[0].(string))), nil
}}

// mfParseVersion converts a version of one to four dot-separated parts,
// each of up to eight digits, to the number Kusto compares: each part is
// eight decimal digits of it, missing parts are trailing zeros.
func mfParseVersion(v string) (float64, bool) {
	parts := strings.Split(strings.TrimSpace(v), ".")
	if len(parts) < 1 || len(parts) > 4 {
		return 0, false
	}
	total := 0.0
	for i := 0; i < 4; i++ {
		n := 0
		if i < len(parts) {
			p := parts[i]
			if p == "" || len(p) > 8 {
				return 0, false
			}
			for _, c := range []byte(p) {
				if c < '0' || c > '9' {
					return 0, false
				}
			}
			n, _ = strconv.Atoi(p)
		}
		total = total*1e8 + float64(n)
	}
	return total, true
}

// udfParseVersion is parse_version(version), held as a real (Kusto's decimal keeps
// all its 32 digits; a double keeps about 16).
var udfParseVersion = stringUDF("kql_parse_version", tyReal, mfParseVersion)

// --- hashes and encodings ---

// udfHashText is hash(text, mod): xxhash64 of the UTF-8 bytes.
var udfHashText = udf{Name: "kql_hash_text", Args: []string{tyString, tyLong}, Result: tyLong, NullArgs: true, Fn: func(args []any) (any, error) {
	return mfHashMod(xxhash.Sum64String(args[0].(string)), args[1]), nil
}}

// udfHashLong is hash(number, mod) of an integer, datetime or timespan (in
// ticks): xxhash64 of its 8 little-endian bytes.
var udfHashLong = udf{Name: "kql_hash_long", Args: []string{tyLong, tyLong}, Result: tyLong, NullArgs: true, Fn: func(args []any) (any, error) {
	v, _ := udfInt(args[0])
	return mfHashMod(xxhash.Sum64(binary.LittleEndian.AppendUint64(nil, uint64(v))), args[1]), nil
}}

// udfHashReal is hash(real, mod): xxhash64 of the 8 little-endian bytes of the
// IEEE 754 value.
var udfHashReal = udf{Name: "kql_hash_real", Args: []string{tyReal, tyLong}, Result: tyLong, NullArgs: true, Fn: func(args []any) (any, error) {
	v, _ := udfFloat(args[0])
	return mfHashMod(xxhash.Sum64(binary.LittleEndian.AppendUint64(nil, math.Float64bits(v))), args[1]), nil
}}

// mfHashMod applies hash()'s optional modulo (0 for none).
func mfHashMod(h uint64, mod any) any {
	if m, _ := udfInt(mod); m > 0 {
		return int64(h % uint64(m))
	}
	return int64(h)
}

// udfHashCombine combines hashes. Kusto does not document its algorithm;
// this is boost's hash_combine on 64 bits, so combined values differ from
// Kusto's.
var udfHashCombine = udf{Name: "kql_hash_combine", Variadic: tyLong, Result: tyLong, NullArgs: true, Fn: func(args []any) (any, error) {
	var h uint64
	for i, a := range args {
		v, _ := udfInt(a)
		if i == 0 {
			h = uint64(v)
			continue
		}
		h ^= uint64(v) + 0x9e3779b97f4a7c15 + (h << 6) + (h >> 2)
	}
	return int64(h), nil
}}

// udfBase64ToArray is base64_decode_toarray(text): null when the text is not
// padded base64.
var udfBase64ToArray = udf{Name: "kql_base64_decode_toarray", Args: []string{tyString}, Result: tyDynamic, NullArgs: true, Fn: func(args []any) (any, error) {
	b, err := base64.StdEncoding.DecodeString(args[0].(string))
	if err != nil {
		return nil, nil
	}
	out := make([]any, len(b))
	for i, c := range b {
		out[i] = int64(c)
	}
	return mfJSON(out), nil
}}

// udfBase64FromArray is base64_encode_fromarray(bytes).
var udfBase64FromArray = udf{Name: "kql_base64_encode_fromarray", Args: []string{tyDynamic}, Result: tyString, NullArgs: true, Fn: func(args []any) (any, error) {
	arr, ok := mfArgArray(args[0])
	if !ok {
		return nil, nil
	}
	b := make([]byte, len(arr))
	for i, e := range arr {
		n, ok := mfInt(e)
		if !ok || n < 0 || n > 255 {
			return nil, nil
		}
		b[i] = byte(n)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}}

// mfGUIDBytes converts a guid to its 16 bytes in .NET's order (the first
// three groups little-endian).
func mfGUIDBytes(g string) ([]byte, bool) {
	g = strings.Trim(strings.TrimSpace(g), "{}")
	h := strings.ReplaceAll(g, "-", "")
	if len(h) != 32 || (len(g) != 32 && len(g) != 36) {
		return nil, false
	}
	var b [16]byte
	for i := range b {
		v, err := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		if err != nil {
			return nil, false
		}
		b[i] = byte(v)
	}
	out := []byte{b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]}
	return append(out, b[8:]...), true
}

// udfBase64FromGUID is base64_encode_fromguid(guid), of the guid's bytes in .NET's
// order.
var udfBase64FromGUID = udf{Name: "kql_base64_encode_fromguid", Args: []string{tyGuid}, Result: tyString, NullArgs: true, Fn: func(args []any) (any, error) {
	b, ok := mfGUIDBytes(args[0].(string))
	if !ok {
		return nil, nil
	}
	return base64.StdEncoding.EncodeToString(b), nil
}}

// udfBase64ToGUID is base64_decode_toguid(text).
var udfBase64ToGUID = udf{Name: "kql_base64_decode_toguid", Args: []string{tyString}, Result: tyGuid, NullArgs: true, Fn: func(args []any) (any, error) {
	b, err := base64.StdEncoding.DecodeString(args[0].(string))
	if err != nil || len(b) != 16 {
		return nil, nil
	}
	return fmt.Sprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%x-%x", b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8:10], b[10:]), nil
}}

// --- math ---

// udfErf is erf(x).
var udfErf = udf{Name: "kql_erf", Args: []string{tyReal}, Result: tyReal, NullArgs: true, Fn: func(args []any) (any, error) {
	x, _ := udfFloat(args[0])
	return math.Erf(x), nil
}}

// udfErfc is erfc(x).
var udfErfc = udf{Name: "kql_erfc", Args: []string{tyReal}, Result: tyReal, NullArgs: true, Fn: func(args []any) (any, error) {
	x, _ := udfFloat(args[0])
	return math.Erfc(x), nil
}}

// mfLogBeta is ln B(a, b).
func mfLogBeta(a, b float64) float64 {
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	return la + lb - lab
}

// mfBetaCF is the continued fraction of the incomplete beta function
// (modified Lentz's method).
func mfBetaCF(a, b, x float64) float64 {
	const tiny = 1e-300
	qab, qap, qam := a+b, a+1, a-1
	c, d := 1.0, 1-qab*x/qap
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= 1000; m++ {
		fm, m2 := float64(m), float64(2*m)
		aa := fm * (b - fm) * x / ((qam + m2) * (a + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		h *= d * c
		aa = -(a + fm) * (qab + fm) * x / ((a + m2) * (qap + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < 1e-16 {
			break
		}
	}
	return h
}

// mfBetaInc is the regularized incomplete beta function I_x(a, b).
func mfBetaInc(a, b, x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	bt := math.Exp(a*math.Log(x) + b*math.Log1p(-x) - mfLogBeta(a, b))
	if x < (a+1)/(a+b+2) {
		return bt * mfBetaCF(a, b, x) / a
	}
	return 1 - bt*mfBetaCF(b, a, 1-x)/b
}

// udfBetaCDF is beta_cdf(x, alpha, beta): NaN outside the domains the
// documentation gives.
var udfBetaCDF = udf{Name: "kql_beta_cdf", Args: []string{tyReal, tyReal, tyReal}, Result: tyReal, NullArgs: true, Fn: func(args []any) (any, error) {
	x, _ := udfFloat(args[0])
	a, _ := udfFloat(args[1])
	b, _ := udfFloat(args[2])
	if !(x >= 0 && x <= 1 && a > 0 && a <= 10000 && b > 0 && b <= 10000) {
		return math.NaN(), nil
	}
	return mfBetaInc(a, b, x), nil
}}

// udfBetaPDF is beta_pdf(x, alpha, beta): NaN outside the domains the
// documentation gives.
var udfBetaPDF = udf{Name: "kql_beta_pdf", Args: []string{tyReal, tyReal, tyReal}, Result: tyReal, NullArgs: true, Fn: func(args []any) (any, error) {
	x, _ := udfFloat(args[0])
	a, _ := udfFloat(args[1])
	b, _ := udfFloat(args[2])
	if !(x > 0 && x < 1 && a > 0 && b > 0) {
		return math.NaN(), nil
	}
	return math.Exp((a-1)*math.Log(x) + (b-1)*math.Log1p(-x) - mfLogBeta(a, b)), nil
}}

// udfBetaInv inverts beta_cdf by bisection. As the documentation's
// example shows, a probability outside [0, 1] gives null and a parameter
// that is not positive NaN.
var udfBetaInv = udf{Name: "kql_beta_inv", Args: []string{tyReal, tyReal, tyReal}, Result: tyReal, NullArgs: true, Fn: func(args []any) (any, error) {
	p, _ := udfFloat(args[0])
	a, _ := udfFloat(args[1])
	b, _ := udfFloat(args[2])
	switch {
	case !(a > 0 && b > 0 && a <= 10000 && b <= 10000):
		return math.NaN(), nil
	case !(p >= 0 && p <= 1):
		return nil, nil
	case p == 0 || p == 1:
		return p, nil
	}
	lo, hi := 0.0, 1.0
	for i := 0; i < 200 && hi-lo > 1e-17; i++ {
		mid := (lo + hi) / 2
		if mfBetaInc(a, b, mid) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2, nil
}}

// udfWelchTest is the two-sided p-value of Welch's t-test for two
// samples given by their means, variances and counts.
var udfWelchTest = udf{Name: "kql_welch_test", Args: []string{tyReal, tyReal, tyReal, tyReal, tyReal, tyReal}, Result: tyReal, NullArgs: true, Fn: func(args []any) (any, error) {
	var v [6]float64
	for i := range v {
		v[i], _ = udfFloat(args[i])
	}
	m1, v1, n1, m2, v2, n2 := v[0], v[1], v[2], v[3], v[4], v[5]
	if !(n1 > 1 && n2 > 1 && v1 >= 0 && v2 >= 0) {
		return math.NaN(), nil
	}
	s1, s2 := v1/n1, v2/n2
	if s1+s2 == 0 {
		return math.NaN(), nil
	}
	t := (m1 - m2) / math.Sqrt(s1+s2)
	df := (s1 + s2) * (s1 + s2) / (s1*s1/(n1-1) + s2*s2/(n2-1))
	return mfBetaInc(df/2, 0.5, df/(df+t*t)), nil
}}

// mfUnitDef converts a unit to its kind's base unit: base = v*scale/div
// + offset (a div of 0 is 1; speeds divide by seconds, which keeps
// 1.2 m/s = 432000 cm/h exact). The angle unit Tilt is not linear (the
// sine of the angle).
type mfUnitDef struct {
	scale, div, offset float64
	nonlinear          bool
}

// parts returns the unit's scale and divisor.
func (u mfUnitDef) parts() (float64, float64) {
	if u.div == 0 {
		return u.scale, 1
	}
	return u.scale, u.div
}

// mfUnits are the units of the convert_* functions (the names of the
// UnitsNet library, which Kusto uses, with its conversion factors, some
// of which are rounded: a mile is 1609.34 m, a US gallon 3.78541 l), by
// kind. Bases: degree, joule,
// newton, meter, kilogram, meter per second, kelvin, cubic meter.
var mfUnits = func() map[string]map[string]mfUnitDef {
	lin := func(pairs ...any) map[string]mfUnitDef {
		m := map[string]mfUnitDef{}
		for i := 0; i < len(pairs); i += 2 {
			switch v := pairs[i+1].(type) {
			case float64:
				m[strings.ToLower(pairs[i].(string))] = mfUnitDef{scale: v}
			case [2]float64:
				m[strings.ToLower(pairs[i].(string))] = mfUnitDef{scale: v[0], div: v[1]}
			}
		}
		return m
	}
	ps := func(meters, seconds float64) [2]float64 { return [2]float64{meters, seconds} }
	const (
		inch   = 0.0254
		foot   = 0.3048
		usFoot = 1200.0 / 3937
		yard   = 0.9144
		mile   = 1609.34
		usGal  = 0.00378541
		impGal = 0.00454609000000181429905810072407
		cuFoot = 0.0283168
		btu    = 1055.05585262
		ev     = 1.602176565e-19
		lbf    = 4.4482216152605095551842641431421
		pound  = 0.45359237
		ly     = 9.46073047258e15
		parsec = 3.08567758128e16
		therm  = 1.05505585262e8
	)
	units := map[string]map[string]mfUnitDef{
		"angle": lin("Arcminute", 1.0/60, "Arcsecond", 1.0/3600, "Centiradian", 0.018/math.Pi, "Deciradian", 18/math.Pi,
			"Degree", 1.0, "Gradian", 0.9, "Microdegree", 1e-6, "Microradian", 180e-6/math.Pi, "Millidegree", 1e-3,
			"Milliradian", 0.18/math.Pi, "Nanodegree", 1e-9, "Nanoradian", 180e-9/math.Pi, "NatoMil", 360.0/6400,
			"Radian", 180/math.Pi, "Revolution", 360.0),
		"energy": lin("BritishThermalUnit", btu, "Calorie", 4.184, "DecathermEc", 10*therm, "DecathermImperial", 1.05505585257348e9,
			"DecathermUs", 1.054804e9, "ElectronVolt", ev, "Erg", 1e-7, "FootPound", 1.355817948,
			"GigabritishThermalUnit", btu*1e9, "GigaelectronVolt", ev*1e9, "Gigajoule", 1e9, "GigawattDay", 8.64e13,
			"GigawattHour", 3.6e12, "HorsepowerHour", 2.6845195377e6, "Joule", 1.0, "KilobritishThermalUnit", btu*1e3,
			"Kilocalorie", 4184.0, "KiloelectronVolt", ev*1e3, "Kilojoule", 1e3, "KilowattDay", 8.64e7, "KilowattHour", 3.6e6,
			"MegabritishThermalUnit", btu*1e6, "Megacalorie", 4.184e6, "MegaelectronVolt", ev*1e6, "Megajoule", 1e6,
			"MegawattDay", 8.64e10, "MegawattHour", 3.6e9, "Millijoule", 1e-3, "TeraelectronVolt", ev*1e12,
			"TerawattDay", 8.64e16, "TerawattHour", 3.6e15, "ThermEc", therm, "ThermImperial", 1.05505585257348e8,
			"ThermUs", 1.054804e8, "WattDay", 86400.0, "WattHour", 3600.0),
		"force": lin("Decanewton", 10.0, "Dyn", 1e-5, "KilogramForce", 9.80665002864, "Kilonewton", 1e3, "KiloPond", 9.80665002864,
			"KilopoundForce", lbf*1e3, "Meganewton", 1e6, "Micronewton", 1e-6, "Millinewton", 1e-3, "Newton", 1.0,
			"OunceForce", 0.2780138509537812, "Poundal", 0.13825502798973041652092282466083, "PoundForce", lbf, "ShortTonForce", 8896.443230521,
			"TonneForce", 9806.65002864),
		"length": lin("Angstrom", 1e-10, "AstronomicalUnit", 1.495978707e11, "Centimeter", 1e-2, "Chain", 20.1168,
			"DataMile", 1828.8, "Decameter", 10.0, "Decimeter", 0.1, "DtpPica", [2]float64{1, 236.220472441}, "DtpPoint", inch/72,
			"Fathom", 1.8288, "Foot", foot, "Hand", 0.1016, "Hectometer", 100.0, "Inch", inch, "KilolightYear", ly*1e3,
			"Kilometer", 1e3, "Kiloparsec", parsec*1e3, "LightYear", ly, "MegalightYear", ly*1e6, "Megaparsec", parsec*1e6,
			"Meter", 1.0, "Microinch", inch*1e-6, "Micrometer", 1e-6, "Mil", inch*1e-3, "Mile", mile, "Millimeter", 1e-3,
			"Nanometer", 1e-9, "NauticalMile", 1852.0, "Parsec", parsec, "PrinterPica", [2]float64{1, 237.106301584}, "PrinterPoint", inch/72.27,
			"Shackle", 27.432, "SolarRadius", 6.95510000e8, "Twip", [2]float64{1, 56692.913385826}, "UsSurveyFoot", usFoot, "Yard", yard),
		"mass": lin("Centigram", 1e-5, "Decagram", 1e-2, "Decigram", 1e-4, "EarthMass", 5.9722e24, "Grain", 6.479891e-5,
			"Gram", 1e-3, "Hectogram", 0.1, "Kilogram", 1.0, "Kilopound", pound*1e3, "Kilotonne", 1e6,
			"LongHundredweight", 50.80234544, "LongTon", 1016.0469088, "Megapound", pound*1e6, "Megatonne", 1e9,
			"Microgram", 1e-9, "Milligram", 1e-6, "Nanogram", 1e-12, "Ounce", pound/16, "Pound", pound,
			"ShortHundredweight", 45.359237, "ShortTon", 907.18474, "Slug", 14.593902937206365, "SolarMass", 1.98947e30,
			"Stone", 6.35029318, "Tonne", 1e3),
		"speed": lin("CentimeterPerHour", ps(0.01, 3600), "CentimeterPerMinute", ps(0.01, 60), "CentimeterPerSecond", ps(0.01, 1),
			"DecimeterPerMinute", ps(0.1, 60), "DecimeterPerSecond", ps(0.1, 1), "FootPerHour", ps(foot, 3600), "FootPerMinute", ps(foot, 60),
			"FootPerSecond", ps(foot, 1), "InchPerHour", ps(inch, 3600), "InchPerMinute", ps(inch, 60), "InchPerSecond", ps(inch, 1),
			"KilometerPerHour", ps(1e3, 3600), "KilometerPerMinute", ps(1e3, 60), "KilometerPerSecond", ps(1e3, 1), "Knot", ps(1852.0, 3600),
			"MeterPerHour", ps(1.0, 3600), "MeterPerMinute", ps(1.0, 60), "MeterPerSecond", ps(1.0, 1), "MicrometerPerMinute", ps(1e-6, 60),
			"MicrometerPerSecond", ps(1e-6, 1), "MilePerHour", ps(1609.344, 3600), "MillimeterPerHour", ps(1e-3, 3600),
			"MillimeterPerMinute", ps(1e-3, 60), "MillimeterPerSecond", ps(1e-3, 1), "NanometerPerMinute", ps(1e-9, 60),
			"NanometerPerSecond", ps(1e-9, 1), "UsSurveyFootPerHour", ps(usFoot, 3600), "UsSurveyFootPerMinute", ps(usFoot, 60),
			"UsSurveyFootPerSecond", ps(usFoot, 1), "YardPerHour", ps(yard, 3600), "YardPerMinute", ps(yard, 60), "YardPerSecond", ps(yard, 1)),
		"volume": lin("AcreFoot", [2]float64{1, 0.000810714}, "AuTablespoon", 2e-5, "BoardFoot", 2.3597372158e-3, "Centiliter", 1e-5,
			"CubicCentimeter", 1e-6, "CubicDecimeter", 1e-3, "CubicFoot", cuFoot, "CubicHectometer", 1e6,
			"CubicInch", 1.6387e-5, "CubicKilometer", 1e9, "CubicMeter", 1.0, "CubicMicrometer", 1e-18,
			"CubicMile", 4.16818182544058e9, "CubicMillimeter", 1e-9, "CubicYard", 0.764554858, "Decaliter", 1e-2,
			"DecausGallon", usGal*10, "Deciliter", 1e-4, "DeciusGallon", usGal/10, "HectocubicFoot", cuFoot*100,
			"HectocubicMeter", 100.0, "Hectoliter", 0.1, "HectousGallon", usGal*100, "ImperialBeerBarrel", 0.16365924,
			"ImperialGallon", impGal, "ImperialOunce", 2.8413062499962901241875439064617e-5, "ImperialPint", 5.6826125e-4,
			"KilocubicFoot", cuFoot*1e3, "KilocubicMeter", 1e3, "KiloimperialGallon", impGal*1e3, "Kiloliter", 1.0,
			"KilousGallon", usGal*1e3, "Liter", 1e-3, "MegacubicFoot", cuFoot*1e6, "MegaimperialGallon", impGal*1e6,
			"Megaliter", 1e3, "MegausGallon", usGal*1e6, "MetricCup", 2.5e-4, "MetricTeaspoon", 5e-6, "Microliter", 1e-9,
			"Milliliter", 1e-6, "OilBarrel", 0.158987294928, "UkTablespoon", 1.5e-5, "UsBeerBarrel", 0.1173477658,
			"UsCustomaryCup", 2.365882365e-4, "UsGallon", usGal, "UsLegalCup", 2.4e-4, "UsOunce", 2.957352956253760505068307980135e-5,
			"UsPint", 4.73176473e-4, "UsQuart", 9.46352946e-4, "UsTablespoon", 1.478676478125e-5,
			"UsTeaspoon", 4.92892159375e-6),
		"temperature": {
			"degreecelsius":      {scale: 1, offset: 273.15},
			"degreedelisle":      {scale: -2.0 / 3, offset: 373.15},
			"degreefahrenheit":   {scale: 5.0 / 9, offset: 459.67 * 5 / 9},
			"degreenewton":       {scale: 100.0 / 33, offset: 273.15},
			"degreerankine":      {scale: 5.0 / 9},
			"degreereaumur":      {scale: 5.0 / 4, offset: 273.15},
			"degreeroemer":       {scale: 40.0 / 21, offset: 273.15 - 7.5*40/21},
			"kelvin":             {scale: 1},
			"millidegreecelsius": {scale: 1e-3, offset: 273.15},
			"solartemperature":   {scale: 5778},
		},
	}
	units["angle"]["tilt"] = mfUnitDef{nonlinear: true}
	return units
}()

// mfUnit looks a unit up, ignoring case.
func mfUnit(kind, name string) (mfUnitDef, bool) {
	u, ok := mfUnits[kind][strings.ToLower(name)]
	return u, ok
}

// mfToBase converts a value in a unit to its kind's base unit.
func mfToBase(u mfUnitDef, v float64) float64 {
	if u.nonlinear {
		return math.Asin(v) * 180 / math.Pi
	}
	sc, div := u.parts()
	return v*sc/div + u.offset
}

// mfFromBase converts a value in the base unit to a unit.
func mfFromBase(u mfUnitDef, v float64) float64 {
	if u.nonlinear {
		return math.Sin(v * math.Pi / 180)
	}
	sc, div := u.parts()
	return (v - u.offset) * div / sc
}

// udfConvert is convert_<kind>(value, from, to) for units that are not literals
// (or not linear): kql_convert_unit(kind, value, from, to).
var udfConvert = udf{Name: "kql_convert_unit", Args: []string{tyString, tyReal, tyString, tyString}, Result: tyReal, NullArgs: true, Fn: func(args []any) (any, error) {
	kind, _ := args[0].(string)
	v, _ := udfFloat(args[1])
	from, ok1 := mfUnit(kind, args[2].(string))
	to, ok2 := mfUnit(kind, args[3].(string))
	if !ok1 || !ok2 {
		return nil, nil
	}
	return mfFromBase(to, mfToBase(from, v)), nil
}}

// --- IPv4 ---

// mfParseIPv4 reads a.b.c.d[/prefix]; prefix is 32 when not written.
func mfParseIPv4(s string) (uint32, int, bool) {
	s = strings.TrimSpace(s)
	prefix := 32
	if i := strings.IndexByte(s, '/'); i >= 0 {
		p, err := strconv.Atoi(strings.TrimSpace(s[i+1:]))
		if err != nil || p < 0 || p > 32 {
			return 0, 0, false
		}
		s, prefix = strings.TrimSpace(s[:i]), p
	}
	v, ok := mfDottedQuad(s)
	return v, prefix, ok
}

// mfDottedQuad reads a.b.c.d.
func mfDottedQuad(s string) (uint32, bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 4 {
		return 0, false
	}
	var v uint32
	for _, p := range parts {
		if p == "" || len(p) > 3 {
			return 0, false
		}
		n := 0
		for _, c := range []byte(p) {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		if n > 255 {
			return 0, false
		}
		v = v<<8 | uint32(n)
	}
	return v, true
}

// mfMask4 keeps the first prefix bits of an IPv4 address.
func mfMask4(v uint32, prefix int) uint32 {
	if prefix <= 0 {
		return 0
	}
	return v &^ (1<<(32-prefix) - 1)
}

// mfQuad writes an IPv4 address.
func mfQuad(v uint32) string {
	return fmt.Sprintf("%d.%d.%d.%d", v>>24, v>>16&255, v>>8&255, v&255)
}

// mfIPv4Pair parses two addresses and the prefix they are compared with.
func mfIPv4Pair(args []any) (uint32, uint32, int, bool) {
	a, pa, ok1 := mfParseIPv4(args[0].(string))
	b, pb, ok2 := mfParseIPv4(args[1].(string))
	p, ok3 := udfInt(args[2])
	if !ok1 || !ok2 || !ok3 || p < 0 || p > 32 {
		return 0, 0, 0, false
	}
	prefix := min(pa, pb, int(p))
	return mfMask4(a, prefix), mfMask4(b, prefix), prefix, true
}

// udfIPv4Match is ipv4_is_match(ip1, ip2, prefix) on the shortest of the prefixes.
var udfIPv4Match = udf{Name: "kql_ipv4_is_match", Args: []string{tyString, tyString, tyLong}, Result: tyBool, NullArgs: true, Fn: func(args []any) (any, error) {
	a, b, _, ok := mfIPv4Pair(args)
	if !ok {
		return nil, nil
	}
	return a == b, nil
}}

// udfIPv4Compare is ipv4_compare(ip1, ip2, prefix) on the shortest of the prefixes.
var udfIPv4Compare = udf{Name: "kql_ipv4_compare", Args: []string{tyString, tyString, tyLong}, Result: tyLong, NullArgs: true, Fn: func(args []any) (any, error) {
	a, b, _, ok := mfIPv4Pair(args)
	if !ok {
		return nil, nil
	}
	switch {
	case a < b:
		return int64(-1), nil
	case a > b:
		return int64(1), nil
	}
	return int64(0), nil
}}

// mfInIPv4Range reports whether ip is in the CIDR range r.
func mfInIPv4Range(ip uint32, r string) bool {
	v, p, ok := mfParseIPv4(r)
	return ok && mfMask4(ip, p) == mfMask4(v, p)
}

// udfIPv4InAnyRange is ipv4_is_in_any_range(ip, ranges or arrays of ranges, ...).
var udfIPv4InAnyRange = udf{Name: "kql_ipv4_is_in_any_range", Args: []string{tyString}, Variadic: tyDynamic, Result: tyBool, Fn: func(args []any) (any, error) {
	return mfInAnyRange(args, mfParseIPv4, mfInIPv4Range), nil
}}

// mfInAnyRange is ipv4/ipv6_is_in_any_range: whether the address args[0]
// is in any of the ranges (or arrays of ranges) that follow; null when the
// address is null or invalid.
func mfInAnyRange[IP any](args []any, parse func(string) (IP, int, bool), in func(IP, string) bool) any {
	s, ok := args[0].(string)
	if !ok {
		return nil
	}
	ip, _, ok := parse(s)
	if !ok {
		return nil
	}
	for _, r := range mfStrings(args[1:]) {
		if in(ip, r) {
			return true
		}
	}
	return false
}

// udfIPv4NetmaskSuffix is ipv4_netmask_suffix(ip).
var udfIPv4NetmaskSuffix = udf{Name: "kql_ipv4_netmask_suffix", Args: []string{tyString}, Result: tyLong, NullArgs: true, Fn: func(args []any) (any, error) {
	_, p, ok := mfParseIPv4(args[0].(string))
	if !ok {
		return nil, nil
	}
	return int64(p), nil
}}

// udfParseIPv4Mask is parse_ipv4_mask(ip, prefix).
var udfParseIPv4Mask = udf{Name: "kql_parse_ipv4_mask", Args: []string{tyString, tyLong}, Result: tyLong, NullArgs: true, Fn: func(args []any) (any, error) {
	v, p, ok := mfParseIPv4(args[0].(string))
	m, ok2 := udfInt(args[1])
	if !ok || !ok2 || m < 0 || m > 32 {
		return nil, nil
	}
	return int64(mfMask4(v, min(p, int(m)))), nil
}}

// udfIPv4RangeToCIDR is ipv4_range_to_cidr_list(start, end): the fewest CIDR ranges
// covering start to end.
var udfIPv4RangeToCIDR = udf{Name: "kql_ipv4_range_to_cidr_list", Args: []string{tyString, tyString}, Result: tyDynamic, NullArgs: true, Fn: func(args []any) (any, error) {
	lo, _, ok1 := mfParseIPv4(args[0].(string))
	hi, _, ok2 := mfParseIPv4(args[1].(string))
	if !ok1 || !ok2 || lo > hi {
		return nil, nil
	}
	out := []any{}
	for cur := uint64(lo); cur <= uint64(hi); {
		size := 32
		if cur != 0 {
			size = bits.TrailingZeros64(cur)
			if size > 32 {
				size = 32
			}
		}
		for size > 0 && cur+(1<<size)-1 > uint64(hi) {
			size--
		}
		out = append(out, mfQuad(uint32(cur))+"/"+strconv.Itoa(32-size))
		cur += 1 << size
	}
	return mfJSON(out), nil
}}

// mfIPv4Arg reads the address argument of format_ipv4: a dotted quad or
// the address's number.
func mfIPv4Arg(s string) (uint32, int, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 || n > math.MaxUint32 {
			return 0, 0, false
		}
		return uint32(n), 32, true
	}
	return mfParseIPv4(s)
}

// mfFormatIPv4 is format_ipv4 and format_ipv4_mask.
func mfFormatIPv4(args []any, withMask bool) (any, error) {
	v, p, ok := mfIPv4Arg(args[0].(string))
	m, ok2 := udfInt(args[1])
	if !ok || !ok2 || m < 0 || m > 32 {
		return "", nil
	}
	prefix := min(p, int(m))
	s := mfQuad(mfMask4(v, prefix))
	if withMask {
		s += "/" + strconv.Itoa(prefix)
	}
	return s, nil
}

// udfFormatIPv4 is format_ipv4(ip, prefix).
var udfFormatIPv4 = udf{Name: "kql_format_ipv4", Args: []string{tyString, tyLong}, Result: tyString, NullArgs: true, Fn: func(args []any) (any, error) {
	return mfFormatIPv4(args, false)
}}

// udfFormatIPv4Mask is format_ipv4_mask(ip, prefix).
var udfFormatIPv4Mask = udf{Name: "kql_format_ipv4_mask", Args: []string{tyString, tyLong}, Result: tyString, NullArgs: true, Fn: func(args []any) (any, error) {
	return mfFormatIPv4(args, true)
}}

// mfIPv4Tokens finds the IPv4 addresses written in a text: runs of
// letters, digits and dots that are a dotted quad (a dot may end them).
func mfIPv4Tokens(s string) []uint32 {
	var out []uint32
	for i := 0; i < len(s); {
		if !isTermChar(s[i]) && s[i] != '.' {
			i++
			continue
		}
		j := i
		for j < len(s) && (isTermChar(s[j]) || s[j] == '.') {
			j++
		}
		if v, ok := mfDottedQuad(strings.TrimRight(s[i:j], ".")); ok {
			out = append(out, v)
		}
		i = j
	}
	return out
}

// mfIPv4Prefix reads a prefix of has_ipv4_prefix: a whole address, or
// one to three octets each followed by a dot. It returns the octets'
// value (left-aligned) and their number of bits.
func mfIPv4Prefix(p string) (uint32, int, bool) {
	if v, ok := mfDottedQuad(p); ok {
		return v, 32, true
	}
	if !strings.HasSuffix(p, ".") {
		return 0, 0, false
	}
	parts := strings.Split(strings.TrimSuffix(p, "."), ".")
	if len(parts) > 3 {
		return 0, 0, false
	}
	full := strings.Join(append(parts, []string{"0", "0", "0"}[:4-len(parts)]...), ".")
	v, ok := mfDottedQuad(full)
	return v, 8 * len(parts), ok
}

// mfHasIPv4 reports whether any of the addresses (or prefixes) occurs in
// text.
func mfHasIPv4(text string, wanted []string, prefix bool) bool {
	type pat struct {
		v    uint32
		bits int
	}
	var pats []pat
	for _, w := range wanted {
		if prefix {
			if v, b, ok := mfIPv4Prefix(strings.TrimSpace(w)); ok {
				pats = append(pats, pat{v, b})
			}
		} else if v, ok := mfDottedQuad(strings.TrimSpace(w)); ok {
			pats = append(pats, pat{v, 32})
		}
	}
	if len(pats) == 0 {
		return false
	}
	for _, tok := range mfIPv4Tokens(text) {
		for _, p := range pats {
			if mfMask4(tok, p.bits) == p.v {
				return true
			}
		}
	}
	return false
}

// udfHasIPv4 is has_ipv4(text, ip).
var udfHasIPv4 = udf{Name: "kql_has_ipv4", Args: []string{tyString, tyString}, Result: tyBool, NullArgs: true, Fn: func(args []any) (any, error) {
	return mfHasIPv4(args[0].(string), []string{args[1].(string)}, false), nil
}}

// udfHasIPv4Prefix is has_ipv4_prefix(text, prefix).
var udfHasIPv4Prefix = udf{Name: "kql_has_ipv4_prefix", Args: []string{tyString, tyString}, Result: tyBool, NullArgs: true, Fn: func(args []any) (any, error) {
	return mfHasIPv4(args[0].(string), []string{args[1].(string)}, true), nil
}}

// udfHasAnyIPv4 is has_any_ipv4(text, ips or arrays of ips, ...).
var udfHasAnyIPv4 = udf{Name: "kql_has_any_ipv4", Args: []string{tyString}, Variadic: tyDynamic, Result: tyBool, Fn: func(args []any) (any, error) {
	s, _ := args[0].(string)
	return mfHasIPv4(s, mfStrings(args[1:]), false), nil
}}

// udfHasAnyIPv4Prefix is has_any_ipv4_prefix(text, prefixes or arrays of them, ...).
var udfHasAnyIPv4Prefix = udf{Name: "kql_has_any_ipv4_prefix", Args: []string{tyString}, Variadic: tyDynamic, Result: tyBool, Fn: func(args []any) (any, error) {
	s, _ := args[0].(string)
	return mfHasIPv4(s, mfStrings(args[1:]), true), nil
}}

// --- IPv6 ---

// mfParseIPv6 reads an IPv6 or IPv4 address with an optional /prefix.
// An IPv4 address (alone or written at the end of an IPv6 address, as in
// ::192.168.1.1) is the IPv4-mapped address ::ffff:a.b.c.d, and its
// prefix, when 32 or less, counts IPv4 bits (96 are added).
func mfParseIPv6(s string) ([16]byte, int, bool) {
	var out [16]byte
	s = strings.TrimSpace(s)
	prefix, hasPrefix := 128, false
	if i := strings.IndexByte(s, '/'); i >= 0 {
		p, err := strconv.Atoi(strings.TrimSpace(s[i+1:]))
		if err != nil || p < 0 || p > 128 {
			return out, 0, false
		}
		s, prefix, hasPrefix = strings.TrimSpace(s[:i]), p, true
	}
	v4 := false
	if !strings.Contains(s, ":") {
		v, ok := mfDottedQuad(s)
		if !ok {
			return out, 0, false
		}
		binary.BigEndian.PutUint32(out[12:], v)
		v4 = true
	} else {
		addr, err := netip.ParseAddr(s)
		if err != nil || addr.Zone() != "" || !addr.Is6() {
			return out, 0, false
		}
		out = addr.As16()
		if strings.Contains(s, ".") {
			zero := true
			for _, b := range out[:10] {
				zero = zero && b == 0
			}
			v4 = zero && (out[10] == 0 && out[11] == 0 || out[10] == 0xff && out[11] == 0xff)
		}
	}
	if v4 {
		out[10], out[11] = 0xff, 0xff
		if !hasPrefix {
			prefix = 128
		} else if prefix <= 32 {
			prefix += 96
		} else if !strings.Contains(s, ":") {
			return out, 0, false
		}
	}
	return out, prefix, true
}

// mfMask6 keeps the first prefix bits of an address.
func mfMask6(a [16]byte, prefix int) [16]byte {
	for i := range a {
		switch bitsLeft := prefix - 8*i; {
		case bitsLeft >= 8:
		case bitsLeft <= 0:
			a[i] = 0
		default:
			a[i] &^= byte(0xff >> bitsLeft)
		}
	}
	return a
}

// mfIPv6Compare compares two addresses on the prefix they share and the
// prefix given; ok is false when one does not parse.
func mfIPv6Compare(x, y string, prefix int64) (int, bool) {
	a, pa, ok1 := mfParseIPv6(x)
	b, pb, ok2 := mfParseIPv6(y)
	if !ok1 || !ok2 || prefix < 0 || prefix > 128 {
		return 0, false
	}
	p := min(pa, pb, int(prefix))
	ma, mb := mfMask6(a, p), mfMask6(b, p)
	return bytes.Compare(ma[:], mb[:]), true
}

// udfIPv6Compare is ipv6_compare(ip1, ip2, prefix) on the shortest of the prefixes.
var udfIPv6Compare = udf{Name: "kql_ipv6_compare", Args: []string{tyString, tyString, tyLong}, Result: tyLong, NullArgs: true, Fn: func(args []any) (any, error) {
	p, _ := udfInt(args[2])
	c, ok := mfIPv6Compare(args[0].(string), args[1].(string), p)
	if !ok {
		return nil, nil
	}
	return int64(c), nil
}}

// udfIPv6Match is ipv6_is_match(ip1, ip2, prefix) on the shortest of the prefixes.
var udfIPv6Match = udf{Name: "kql_ipv6_is_match", Args: []string{tyString, tyString, tyLong}, Result: tyBool, NullArgs: true, Fn: func(args []any) (any, error) {
	p, _ := udfInt(args[2])
	c, ok := mfIPv6Compare(args[0].(string), args[1].(string), p)
	if !ok {
		return nil, nil
	}
	return c == 0, nil
}}

// mfInIPv6Range reports whether ip is in the range r (an address and
// prefix).
func mfInIPv6Range(ip [16]byte, r string) bool {
	v, p, ok := mfParseIPv6(r)
	return ok && mfMask6(ip, p) == mfMask6(v, p)
}

// udfIPv6InRange is ipv6_is_in_range(ip, range).
var udfIPv6InRange = udf{Name: "kql_ipv6_is_in_range", Args: []string{tyString, tyString}, Result: tyBool, NullArgs: true, Fn: func(args []any) (any, error) {
	ip, _, ok := mfParseIPv6(args[0].(string))
	if _, _, ok2 := mfParseIPv6(args[1].(string)); !ok || !ok2 {
		return nil, nil
	}
	return mfInIPv6Range(ip, args[1].(string)), nil
}}

// udfIPv6InAnyRange is ipv6_is_in_any_range(ip, ranges or arrays of ranges, ...).
var udfIPv6InAnyRange = udf{Name: "kql_ipv6_is_in_any_range", Args: []string{tyString}, Variadic: tyDynamic, Result: tyBool, Fn: func(args []any) (any, error) {
	return mfInAnyRange(args, mfParseIPv6, mfInIPv6Range), nil
}}

// udfParseIPv6Mask is parse_ipv6_mask(ip, prefix) and parse_ipv6(ip): the address
// written in full, masked to the shortest prefix.
var udfParseIPv6Mask = udf{Name: "kql_parse_ipv6_mask", Args: []string{tyString, tyLong}, Result: tyString, NullArgs: true, Fn: func(args []any) (any, error) {
	a, p, ok := mfParseIPv6(args[0].(string))
	m, ok2 := udfInt(args[1])
	if !ok || !ok2 || m < 0 || m > 128 {
		return nil, nil
	}
	a = mfMask6(a, min(p, int(m)))
	groups := make([]string, 8)
	for i := range groups {
		groups[i] = fmt.Sprintf("%04x", binary.BigEndian.Uint16(a[2*i:]))
	}
	return strings.Join(groups, ":"), nil
}}

// --- time ---

// mfZones caches time zones by name.
var mfZones sync.Map

// mfZone loads a time zone by its IANA name (UTC for "utc").
func mfZone(name string) (*time.Location, bool) {
	if z, ok := mfZones.Load(name); ok {
		return z.(*time.Location), true
	}
	if name == "" || strings.EqualFold(name, "local") {
		return nil, false
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, false
	}
	mfZones.Store(name, loc)
	return loc, true
}

// udfLocalToUTC is datetime_local_to_utc(datetime, time zone).
var udfLocalToUTC = udf{Name: "kql_datetime_local_to_utc", Args: []string{tyDateTime, tyString}, Result: tyDateTime, NullArgs: true, Fn: func(args []any) (any, error) {
	tm, ok := args[0].(time.Time)
	loc, ok2 := mfZone(args[1].(string))
	if !ok || !ok2 {
		return nil, nil
	}
	tm = tm.UTC()
	local := time.Date(tm.Year(), tm.Month(), tm.Day(), tm.Hour(), tm.Minute(), tm.Second(), tm.Nanosecond(), loc)
	return local.UTC(), nil
}}

// udfUTCToLocal is datetime_utc_to_local(datetime, time zone).
var udfUTCToLocal = udf{Name: "kql_datetime_utc_to_local", Args: []string{tyDateTime, tyString}, Result: tyDateTime, NullArgs: true, Fn: func(args []any) (any, error) {
	tm, ok := args[0].(time.Time)
	loc, ok2 := mfZone(args[1].(string))
	if !ok || !ok2 {
		return nil, nil
	}
	l := tm.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC), nil
}}

// udfToDateTime parses datetime text in the forms a datetime() literal
// takes.
var udfToDateTime = udf{Name: "kql_todatetime", Args: []string{tyString}, Result: tyDateTime, NullArgs: true, Fn: func(args []any) (any, error) {
	s, ok := parseDateTime(args[0].(string))
	if !ok {
		return nil, nil
	}
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return nil, nil
	}
	return tm, nil
}}
