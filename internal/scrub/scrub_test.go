package scrub

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// golden are inputs with card data and their exact scrubbed form.
var golden = []struct {
	name, in, want string
	kinds          []Kind
}{
	// The schemes' published test numbers, contiguous.
	{"visa", "4111111111111111", "4111110000001111", []Kind{KindPAN}}, // whole input: a bare JSON number
	{"visa text", "card 4111111111111111 ok", "card 411111******1111 ok", []Kind{KindPAN}},
	{"visa 2", "pan=4012888888881881;", "pan=401288******1881;", []Kind{KindPAN}},
	{"visa 13", "pan 4222222222222.", "pan 422222***2222.", []Kind{KindPAN}},
	{"visa 19", "pan 4111111111111111110 ok", "pan 411111*********1110 ok", []Kind{KindPAN}},
	{"mastercard", "mc 5555555555554444", "mc 555555******4444", []Kind{KindPAN}},
	{"mastercard 2", "mc 5105105105105100", "mc 510510******5100", []Kind{KindPAN}},
	{"mastercard 2-series", "mc 2223003122003222", "mc 222300******3222", []Kind{KindPAN}},
	{"amex", "amex 378282246310005", "amex 378282*****0005", []Kind{KindPAN}},
	{"discover", "disc 6011111111111117", "disc 601111******1117", []Kind{KindPAN}},
	{"discover 2", "disc 6011000990139424", "disc 601100******9424", []Kind{KindPAN}},
	{"jcb", "jcb 3530111333300000", "jcb 353011******0000", []Kind{KindPAN}},
	{"diners", "dc 30569309025904", "dc 305693****5904", []Kind{KindPAN}},
	{"diners 36", "dc 36227206271667", "dc 362272****1667", []Kind{KindPAN}},
	{"unionpay", "cup 6200000000000005", "cup 620000******0005", []Kind{KindPAN}},
	{"maestro", "maestro 6759649826438453", "maestro 675964******8453", []Kind{KindPAN}},
	{"maestro 6304", "maestro 6304000000000000", "maestro 630400******0000", []Kind{KindPAN}},
	{"mir", "mir 2200000000000004", "mir 220000******0004", []Kind{KindPAN}},

	// Groupings.
	{"spaces", "4111 1111 1111 1111", "4111 11** **** 1111", []Kind{KindPAN}},
	{"dashes", "4111-1111-1111-1111", "4111-11**-****-1111", []Kind{KindPAN}},
	{"amex 4-6-5", "x 3782 822463 10005.", "x 3782 82**** *0005.", []Kind{KindPAN}},
	{"amex dashes", "x 3782-822463-10005.", "x 3782-82****-*0005.", []Kind{KindPAN}},
	{"diners 4-6-4", "x 3056 930902 5904", "x 3056 93**** 5904", []Kind{KindPAN}},
	{"mastercard spaces", "x 5555 5555 5555 4444", "x 5555 55** **** 4444", []Kind{KindPAN}},
	{"19 digits 4-4-4-4-3", "x 4111 1111 1111 1111 110", "x 4111 11** **** ***1 110", []Kind{KindPAN}},
	{"leading order number", "order 1234 4111 1111 1111 1111 done", "order 1234 4111 11** **** 1111 done", []Kind{KindPAN}},
	{"card and expiry", "card 4111111111111111 2512", "card 411111******1111 2512", []Kind{KindPAN}},
	{"two cards", "a 4111111111111111 b 5555-5555-5555-4444 c", "a 411111******1111 b 5555-55**-****-4444 c", []Kind{KindPAN, KindPAN}},
	{"two grouped cards in a row", "4111 1111 1111 1111 5555 5555 5555 4444.", "4111 11** **** 1111 5555 55** **** 4444.", []Kind{KindPAN, KindPAN}},
	// Masking the first exposes a second: 4111 1111 1111 1111 after the
	// last four of the first. Bytes rescans until clean.
	{"overlapping groups", "x 5555 5555 5557 4111 1111 1111 1111", "x 5555 55** **** 4111 11** **** 1111", []Kind{KindPAN, KindPAN}},

	// JSON.
	{"json string", `{"card":"4111111111111111"}`, `{"card":"411111******1111"}`, []Kind{KindPAN}},
	{"json grouped", `{"card":"4111 1111 1111 1111"}`, `{"card":"4111 11** **** 1111"}`, []Kind{KindPAN}},
	{"json number", `{"card":4111111111111111}`, `{"card":4111110000001111}`, []Kind{KindPAN}},
	{"json number luhn fix", `{"card": 4111111234631110 }`, `{"card": 4111110000011110 }`, []Kind{KindPAN}},
	{"json negative number", `[1,-4111111111111111]`, `[1,-4111110000001111]`, []Kind{KindPAN}},
	{"json array", "[\n  4111111111111111,\n  2]", "[\n  4111110000001111,\n  2]", []Kind{KindPAN}},
	{"json escape n", `{"msg":"declined\n4111111111111111"}`, `{"msg":"declined\n411111******1111"}`, []Kind{KindPAN}},
	{"json escape u", `{"msg":"card\u00204111111111111111"}`, `{"msg":"card\u0020411111******1111"}`, []Kind{KindPAN}},
	{"json escape u letter", `{"msg":"card\u002C4111111111111111"}`, `{"msg":"card\u002C411111******1111"}`, []Kind{KindPAN}},
	{"json in log", `{"log":"charge {\"pan\":\"4111111111111111\"}"}`, `{"log":"charge {\"pan\":\"411111******1111\"}"}`, []Kind{KindPAN}},

	// URLs.
	{"url query", "GET /v1/pay?pan=4111111111111111&amount=10 HTTP/1.1", "GET /v1/pay?pan=411111******1111&amount=10 HTTP/1.1", []Kind{KindPAN}},
	{"url path", "/api/cards/5555555555554444/charge", "/api/cards/555555******4444/charge", []Kind{KindPAN}},
	{"url escaped space", "q=card%204111111111111111", "q=card%20411111******1111", []Kind{KindPAN}},
	{"url escaped comma", "q=a%2C4111111111111111", "q=a%2C411111******1111", []Kind{KindPAN}},
	{"percent sign", "50%4111111111111111 ", "50%411111******1111 ", []Kind{KindPAN}},

	// Log lines.
	{"logfmt", `ts=2025-04-20T16:29:59Z level=info msg="charge ok" card=4111111111111111 amount=19.99`,
		`ts=2025-04-20T16:29:59Z level=info msg="charge ok" card=411111******1111 amount=19.99`, []Kind{KindPAN}},
	{"sentence", "Card 4111-1111-1111-1111.", "Card 4111-11**-****-1111.", []Kind{KindPAN}},
	{"tabs", "pan\t4111111111111111\tok", "pan\t411111******1111\tok", []Kind{KindPAN}},
	{"underscore", "pan_4111111111111111_x", "pan_411111******1111_x", []Kind{KindPAN}},
	{"any IIN off", "x 1234567812345670 y", "x 1234567812345670 y", nil},

	// Track data.
	{"track1", "%B4111111111111111^DOE/JOHN^2512101000000000000000?",
		"%B411111******1111********************************?", []Kind{KindTrack1}},
	{"track1 no sentinels", "data=B4111111111111111^DOE/JOHN   ^2512101000000 next",
		"data=B411111******1111************************** next", []Kind{KindTrack1}},
	{"track1 empty name", "%B5555555555554444^^2512101?", "%B555555******4444*********?", []Kind{KindTrack1}},
	{"track1 unknown iin", "%B1234567812345670^DOE/JOHN^2512?x", "%B123456******5670**************?x", []Kind{KindTrack1}},
	{"track1 in json", `{"t1":"%B4111111111111111^DOE/JOHN^2512101?"}`, `{"t1":"%B411111******1111*****************?"}`, []Kind{KindTrack1}},
	{"track2", ";4111111111111111=25121010000000000000?", ";411111******1111*********************?", []Kind{KindTrack2}},
	{"track2 no sentinels", "t2 4111111111111111=2512101000 end", "t2 411111******1111*********** end", []Kind{KindTrack2}},
	{"track2 unknown iin", ";1234567812345670=2512101?", ";123456******5670********?", []Kind{KindTrack2}},
	{"track2 in json", `{"t2":";4111111111111111=2512101?"}`, `{"t2":";411111******1111********?"}`, []Kind{KindTrack2}},
	{"both tracks", "%B4111111111111111^DOE/JOHN^2512101?;4111111111111111=2512101?",
		"%B411111******1111*****************?;411111******1111********?", []Kind{KindTrack1, KindTrack2}},
}

// traps look like card numbers but are not; they must come out unchanged.
var traps = []struct{ name, in string }{
	{"unix ms", `{"ts":1705314030126}`},
	{"unix ms string", `"ts":"1705314030126"`},
	{"unix us", `{"ts":1705314030123456}`},
	{"unix ns", `{"ts":1705314030123456789}`},
	{"unix ns text", "t=1745166599988453000 x"},
	{"rfc3339", `"stageTimestamp":"2025-04-20T16:29:59.991226Z"`},
	{"rfc3339 nanos offset", "2025-04-20T16:29:59.123456789+02:00"},
	{"date and time digits", "2025-04-20 16:29:59 4111"},
	{"uuid", `"auditID":"5d3c4f0e-8a1b-4b7e-9c55-2f6a1d0b7e93"`},
	{"uuid all digits", `"uid":"41111111-1111-1111-1111-111111111111"`},
	{"uuid digits 2", "12345678-1234-5678-1234-567812345678"},
	{"resourceVersion", `"resourceVersion":"4837215"`},
	{"resourceVersion large", `"resourceVersion":"411111111111"`},
	{"k8s uid", `"uid":"0b1e6a39-7f0c-4d4e-8a9b-3c2d1e0f9a8b"`},
	{"ipv4", "10.224.0.6 192.168.100.200:4111 255.255.255.255"},
	{"ipv6", "2001:db8:85a3::8a2e:370:7334 fe80::1%eth0 ::ffff:192.0.2.128"},
	{"ipv6 digits", "2001:4111:1111:1111:1111:1111:1111:1111"},
	{"not luhn", "card 4111111111111112 ok"},
	{"not luhn grouped", "card 4111 1111 1111 1112 ok"},
	{"wrong prefix 1", "id 1234567812345670 ok"},
	{"wrong prefix 9", "id 9999999999999995 ok"},
	{"wrong prefix 7", "id 70000000000000003 ok"},
	{"wrong prefix 0", "id 0000000000000000 ok"},
	{"wrong length visa 17", "id 41111111111111113 ok"},
	{"wrong length amex 16", "id 3782822463100052 ok"},
	{"phone us", "+1 415-555-2671, (415) 555-2671"},
	{"phone uk", "+44 20 7946 0958"},
	{"phone intl", "0044 7911 123456 and +49 30 901820 and +86 138 0013 8000"},
	{"run of 20", "x 41111111111111111115 y"},
	{"run of 25", "x 4111111111111111000000000 y"},
	{"letters before", "abc4111111111111111"},
	{"letters after", "4111111111111111abc"},
	{"hex", "sha256:4111111111111111deadbeef"},
	{"letter before group", "x4111 1111 1111 1111"},
	{"letter after group", "4111 1111 1111 1111x"},
	{"decimal fraction", "0.4111111111111111"},
	{"decimal", "4111111111111111.5"},
	{"exponent", "1e-4111111111111111 2E+4111111111111111"},
	{"mixed separators", "4111 1111-1111 1111"},
	{"double spaces", "4111  1111  1111  1111"},
	{"short groups", "41 11 11 11 11 11 11 11"},
	{"dots", "4111.1111.1111.1111"},
	{"thousands", "4,111,111,111,111,111"},
	{"numbers list", "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20"},
	{"version", "kubelet/v1.31.4 kubernetes/6ae7e8c"},
	{"short", "4111 1111 1111"},
	{"track2 short rest", "x=4111111111111112=25"},
	{"empty", ""},
}

func TestGolden(t *testing.T) {
	s := New(Options{})
	for _, tc := range golden {
		t.Run(tc.name, func(t *testing.T) {
			got, hits := s.String(tc.in)
			if got != tc.want {
				t.Errorf("String(%q)\n got %q\nwant %q", tc.in, got, tc.want)
			}
			if len(got) != len(tc.in) {
				t.Errorf("length changed: %d → %d", len(tc.in), len(got))
			}
			var kinds []Kind
			for _, h := range hits {
				kinds = append(kinds, h.Kind)
				if h.Offset < 0 || h.Len <= 0 || h.Offset+h.Len > len(tc.in) {
					t.Errorf("hit %+v out of range", h)
				}
			}
			if !slicesEqual(kinds, tc.kinds) {
				t.Errorf("kinds = %v, want %v", kinds, tc.kinds)
			}
			// Bytes agrees with String, also in place and after a prefix.
			b, hits2 := s.Bytes([]byte("prefix:"), []byte(tc.in))
			if string(b) != "prefix:"+tc.want || len(hits2) != len(hits) {
				t.Errorf("Bytes = %q, %d hits", b, len(hits2))
			}
			buf := []byte(tc.in)
			if b, _ := s.Bytes(buf[:0], buf); string(b) != tc.want || string(buf) != tc.want {
				t.Errorf("in place = %q", b)
			}
			// Idempotent.
			if again, h := s.String(got); again != got || len(h) != 0 {
				t.Errorf("second pass changed %q to %q (%v)", got, again, h)
			}
			// Valid JSON stays valid.
			if json.Valid([]byte(tc.in)) && !json.Valid([]byte(got)) {
				t.Errorf("output is not valid JSON: %s", got)
			}
			// Never the number itself.
			for _, h := range hits {
				if strings.ContainsAny(h.Scheme, "0123456789") {
					t.Errorf("hit %+v carries digits", h)
				}
			}
		})
	}
}

func TestTraps(t *testing.T) {
	s := New(Options{})
	for _, tc := range traps {
		t.Run(tc.name, func(t *testing.T) {
			if got, hits := s.String(tc.in); got != tc.in || len(hits) != 0 {
				t.Errorf("String(%q) = %q, %v; want unchanged", tc.in, got, hits)
			}
		})
	}
}

func TestHit(t *testing.T) {
	s := New(Options{})
	in := `{"a":"x 4111 1111 1111 1111","b":";5555555555554444=2512?","c":"%B378282246310005^A/B^2512?"}`
	_, hits := s.String(in)
	want := []Hit{
		{KindPAN, strings.Index(in, "4111"), 19, "visa"},
		{KindTrack2, strings.Index(in, ";5555"), 23, "mastercard"},
		{KindTrack1, strings.Index(in, "%B"), 27, "amex"},
	}
	if !slicesEqual(hits, want) {
		t.Errorf("hits = %+v\nwant %+v", hits, want)
	}
	for i, k := range []Kind{KindPAN, KindTrack1, KindTrack2, 9} {
		if got := k.String(); got != []string{"pan", "track1", "track2", "Kind(9)"}[i] {
			t.Errorf("Kind(%d).String() = %q", k, got)
		}
	}
}

func TestOptions(t *testing.T) {
	hash := New(Options{Mask: '#'})
	if got, _ := hash.String("4111-1111-1111-1111"); got != "4111-11##-####-1111" {
		t.Errorf("Mask '#': %q", got)
	}
	x := New(Options{Mask: 'X'})
	out, _ := x.String("a 4111111111111111 b")
	if out != "a 411111XXXXXX1111 b" {
		t.Errorf("Mask 'X': %q", out)
	}
	if again, h := x.String(out); again != out || h != nil {
		t.Errorf("Mask 'X' not idempotent: %q %v", again, h)
	}
	anyIIN := New(Options{AnyIIN: true})
	got, hits := anyIIN.String("id 1234567812345670 ok")
	if got != "id 123456******5670 ok" || len(hits) != 1 || hits[0].Scheme != "" {
		t.Errorf("AnyIIN: %q %+v", got, hits)
	}
	if got, _ := anyIIN.String("t 1705314030126 x"); got != "t 170531***0126 x" {
		t.Errorf("AnyIIN masks Luhn-valid timestamps too: %q", got)
	}
	for _, m := range []byte{'0', '-', ' ', '"', '\\', 'a'} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("New accepted mask %q", m)
				}
			}()
			New(Options{Mask: m})
		}()
	}
}

// TestStringNoAlloc checks that clean text is returned as is.
func TestStringNoAlloc(t *testing.T) {
	s := New(Options{})
	in := string(readEvent(t, "lease-update.json"))
	allocs := testing.AllocsPerRun(100, func() {
		if out, hits := s.String(in); out != in || hits != nil {
			t.Fatal("changed")
		}
	})
	if allocs != 0 {
		t.Errorf("String on clean text allocates %v times", allocs)
	}
}

func TestAuditEvents(t *testing.T) {
	s := New(Options{})
	clean := readEvent(t, "lease-update.json")
	if out, hits := s.Bytes(nil, clean); !bytes.Equal(out, clean) || hits != nil {
		t.Errorf("clean event changed: %v", hits)
	}
	ev := readEvent(t, "configmap-create.json")
	out, hits := s.Bytes(nil, ev)
	if len(hits) != 2 || bytes.Contains(out, []byte("4111 1111 1111 1111")) || !json.Valid(out) {
		t.Errorf("hits %v, out %s", hits, out)
	}
	if n := bytes.Count(out, []byte("card=4111 11** **** 1111 exp")); n != 2 {
		t.Errorf("masked form found %d times", n)
	}
}

// TestSampling places a PAN at every offset and alignment around the scan
// stride, in every golden grouping, to check that skipping never misses one.
func TestSampling(t *testing.T) {
	s := New(Options{})
	for _, pan := range []string{"4222222222222", "4111111111111111", "4111 1111 1111 1111", "3782-822463-10005", "4111111111111111110"} {
		for pre := 0; pre < 40; pre++ {
			for _, pad := range []string{"a", " ", "-", "9 ", "1-"} {
				in := strings.Repeat(pad, pre)[:pre] + " " + pan + " x"
				if pre > 0 && strings.HasSuffix(strings.Repeat(pad, pre)[:pre], "-") {
					in = strings.Repeat(pad, pre)[:pre] + "x " + pan + " x"
				}
				_, hits := s.String(in)
				if len(hits) != 1 {
					t.Fatalf("%q: %d hits", in, len(hits))
				}
			}
		}
	}
}

func slicesEqual[E comparable](a, b []E) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestLinear feeds 1 MiB adversarial inputs — dense matches in one region,
// long digit runs, long chains of short groups — that a quadratic scanner
// would take minutes on.
func TestLinear(t *testing.T) {
	s := New(Options{})
	const size = 1 << 20
	for _, unit := range []string{
		"4111111111111111 ", "4111 1111 1111 1111 ", "4111-1111-1111-1111-", "5555 5555 5557 4111 1111 1111 1111 ",
		"9", "1 ", "12-", "123 ", "%B4111111111111111^A^1?", ";4111111111111111=2512?", "4111111111111111=",
		"4111111111111111,", " ", "B4111111111111111^", "B4111111111111111^^",
	} {
		in := []byte(strings.Repeat(unit, size/len(unit)))
		start := time.Now()
		out, _ := s.Bytes(nil, in)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%q × %d: %v", unit, size/len(unit), d)
		}
		if _, h := s.Bytes(nil, out); len(h) != 0 {
			t.Errorf("%q: output not clean (%d hits)", unit, len(h))
		}
	}
}
