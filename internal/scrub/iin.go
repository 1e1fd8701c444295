package scrub

// An iinRange is a range of issuer identification number prefixes of one
// scheme: the first digits digits of the PAN, read as a number, lie in
// [lo, hi], and the PAN's length is one of lens (a bit set of lengths).
type iinRange struct {
	lo, hi uint32
	digits uint8
	lens   uint32
	scheme string
}

// lens returns the bit set of lengths lo–hi.
func lens(lo, hi int) uint32 {
	var m uint32
	for l := lo; l <= hi; l++ {
		m |= 1 << l
	}
	return m
}

// iinTable lists the schemes the scrubber recognises, first match wins. It
// is deliberately generous within each scheme's published ranges (a missed
// PAN is worse than a masked order number) and deliberately leaves out
// prefixes that would make ordinary numbers look like PANs: 1 (UATP; all
// Unix timestamps in ms, µs and ns until 2033 start with 1), 7 (petroleum
// cards) and unassigned ranges. Options.AnyIIN disables the table.
var iinTable = [...]iinRange{
	{4, 4, 1, 1<<13 | 1<<16 | 1<<19, "visa"},
	{51, 55, 2, 1 << 16, "mastercard"},
	{2221, 2720, 4, 1 << 16, "mastercard"},
	{34, 34, 2, 1 << 15, "amex"},
	{37, 37, 2, 1 << 15, "amex"},
	{6011, 6011, 4, lens(16, 19), "discover"},
	{644, 649, 3, lens(16, 19), "discover"},
	{65, 65, 2, lens(16, 19), "discover"},
	{3528, 3589, 4, lens(16, 19), "jcb"},
	{300, 305, 3, lens(14, 19), "diners"},
	{3095, 3095, 4, lens(14, 19), "diners"},
	{36, 36, 2, lens(14, 19), "diners"},
	{38, 39, 2, lens(16, 19), "diners"},
	{62, 62, 2, lens(16, 19), "unionpay"},
	{8100, 8171, 4, lens(16, 19), "unionpay"},
	{5018, 5018, 4, lens(13, 19), "maestro"},
	{5020, 5020, 4, lens(13, 19), "maestro"},
	{5038, 5038, 4, lens(13, 19), "maestro"},
	{5893, 5893, 4, lens(13, 19), "maestro"},
	{6304, 6304, 4, lens(13, 19), "maestro"},
	{6759, 6759, 4, lens(13, 19), "maestro"},
	{6761, 6763, 4, lens(13, 19), "maestro"},
	{2200, 2204, 4, lens(16, 19), "mir"},
	{5019, 5019, 4, 1 << 16, "dankort"},
	{506099, 506198, 6, lens(16, 19), "verve"},
	{509, 509, 3, 1 << 16, "elo"},
	{6277, 6277, 4, 1 << 16, "elo"},
	{6362, 6363, 4, 1 << 16, "elo"},
	{60, 60, 2, 1 << 16, "rupay"},
	{508, 508, 3, 1 << 16, "rupay"},
	{636, 636, 3, lens(16, 19), "interpayment"},
	{637, 639, 3, 1 << 16, "instapayment"},
	{9792, 9792, 4, 1 << 16, "troy"},
}

// iin returns the scheme of the PAN whose digits (n of them, possibly with
// separators) are in [s, e), and whether the PAN is acceptable: its prefix
// and length belong to a known scheme, or Options.AnyIIN is set.
func iin[T text](sc *Scrubber, b T, s, e, n int) (string, bool) {
	var pre [7]uint32 // pre[k] = first k digits as a number
	k := 0
	for i := s; i < e && k < 6; i++ {
		if c := b[i]; isDigit(c) {
			pre[k+1] = pre[k]*10 + uint32(c-'0')
			k++
		}
	}
	for i := range iinTable {
		r := &iinTable[i]
		if v := pre[r.digits]; v >= r.lo && v <= r.hi && r.lens&(1<<n) != 0 {
			return r.scheme, true
		}
	}
	return "", sc.anyIIN
}
