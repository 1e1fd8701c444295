// Package scrub keeps card numbers and magnetic-stripe data out of the
// ledger: it finds primary account numbers (PANs) and track data in
// arbitrary text — JSON, URLs, log lines — and masks them in place before
// the text is stored (PCI DSS v4.0.1 3.3.1: no sensitive authentication
// data after authorization; 3.5.1: PAN unreadable wherever stored,
// including audit logs; 3.4.1: at most the BIN and last four shown).
//
//	s := scrub.New(scrub.Options{})
//	raw, hits := s.Bytes(raw[:0], raw) // in place; len(raw) is unchanged
//
// # What is detected
//
// PAN: 13–19 digits that
//
//   - are contiguous ("4111111111111111") or grouped by one and the same
//     separator, a single space or a single dash, in groups of 3–6 digits
//     ("4111 1111 1111 1111", "3782-822463-10005"). Within a longer chain of
//     groups the leftmost, then longest, run of groups that qualifies is
//     taken ("order 1234 4111 1111 1111 1111" finds the last four groups);
//   - are bounded: the byte before and after is neither a digit nor a
//     letter. An escape that ends in a letter or hex digit counts as a
//     boundary: JSON "\n4111…", "\u00204111…", URL "%2C4111…" and
//     "%204111…";
//   - pass the Luhn check; and
//   - start with an issuer prefix of a known scheme and have a length that
//     scheme issues (iin.go): Visa 4 (13, 16, 19); Mastercard 51–55,
//     2221–2720 (16); Amex 34, 37 (15); Discover 6011, 644–649, 65 (16–19);
//     JCB 3528–3589 (16–19); Diners 300–305, 3095, 36 (14–19), 38–39
//     (16–19); UnionPay 62, 8100–8171 (16–19); Maestro 5018, 5020, 5038,
//     5893, 6304, 6759, 6761–6763 (13–19); Mir 2200–2204; Dankort, Verve,
//     Elo, RuPay, InterPayment, InstaPayment and Troy ranges. Options.AnyIIN
//     drops the prefix check.
//
// Track 1 (ISO/IEC 7813 format B): [%]B<PAN>^<name, 0–26 characters>^<rest>
// where rest runs to the end sentinel '?' (within the track's 79
// characters) or, without one, over the digits that follow the second '^'
// (expiry, service code, discretionary data). The PAN must pass Luhn; the
// 'B', the two '^' and the structure stand in for the prefix check.
//
// Track 2: [;]<PAN>=<four or more of [0-9=]>[?]. The PAN must pass Luhn;
// without the ';' sentinel it must also pass the prefix and boundary
// checks of a plain PAN.
//
// # How it is masked
//
// Masking never changes the length of the text, so offsets stay valid and a
// caller can scrub in place.
//
//   - PAN: every digit but the first six and the last four is replaced by
//     '*' (Options.Mask); separators keep their place:
//     "4111 1111 1111 1111" → "4111 11** **** 1111",
//     "378282246310005" → "378282*****0005".
//   - A contiguous PAN standing where a JSON number would ('-'? digits after
//     ':', '[', ',' or the start, before ',', ']', '}' or the end, ignoring
//     whitespace) is masked with digits instead, so the JSON stays valid and
//     the value stays a number: the hidden digits become 0, and if that
//     happens to pass Luhn the last of them becomes 1, so the result is never
//     a PAN: {"pan":4111111111111111} → {"pan":4111110000001111}. The same
//     happens to such a number in plain text ("card: 4111…, exp").
//   - Track data: everything but the sentinels ('%B' or 'B', ';', '?') and
//     the PAN's first six and last four digits is masked, including the
//     name, expiry, service code, discretionary data and field separators:
//     ";4111111111111111=25121010000000000000?" →
//     ";411111******1111*********************?".
//
// Inside a JSON string the mask byte needs no escaping and a match never
// spans a quote or backslash, so valid JSON stays valid JSON. The result is
// a fixed point: scrubbing it again finds nothing (Bytes rescans when
// masking one match exposes another, e.g. kept last four digits followed by
// more groups).
//
// Each finding is reported as a Hit: kind (pan, track1, track2), byte
// offset and length of the masked span, scheme name — never the digits.
//
// # What is deliberately not detected
//
//   - Numbers touching a letter or digit: "id4111111111111111",
//     "4111111111111111abc", digit runs longer than 19 (no PAN is cut out of
//     a longer run), hex and base64 strings.
//   - Decimal fractions and exponents: "0.4111111111111111",
//     "4111111111111111.5", "1e-4111111111111111".
//   - Other groupings: mixed separators ("4111 1111-1111 1111"), double
//     spaces, dots, slashes, '+' or "%20" between groups, groups shorter
//     than 3 or longer than 6 digits ("41 11 …", 6-13 Maestro).
//   - Luhn-invalid numbers (typos, truncated PANs), prefixes outside the
//     table — notably 1 (UATP), so that millisecond, microsecond and
//     nanosecond Unix timestamps are never masked — and lengths the scheme
//     does not issue (a 17-digit number starting with 4).
//   - PANs that are encoded (base64, hex, URL-encoded digits, JSON \u0034
//     digits), encrypted, hashed, or split across fields, and JSON embedded
//     in a JSON string: an escaped PAN number there is masked with '*',
//     which keeps the outer JSON valid but not the inner document.
//   - Other sensitive authentication data outside track data — CVV/CVC
//     values, PINs and PIN blocks — which cannot be told apart from other
//     3–4 digit or hex values without field names; decoders that know the
//     field should drop them.
//
// # Cost
//
// The scanner reads one byte in thirteen (a 13-digit run must contain one
// of them) and looks closer only where that byte is a digit or a separator
// between digits, so text without long digit runs costs little more than
// the copy. No regular expressions are used.
package scrub
