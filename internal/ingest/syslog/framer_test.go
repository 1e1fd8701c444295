package syslog

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
)

// chunkReader returns its data n bytes per Read.
type chunkReader struct {
	b []byte
	n int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	k := min(r.n, len(p), len(r.b))
	copy(p, r.b[:k])
	r.b = r.b[k:]
	return k, nil
}

// frameAll frames a whole stream read chunk bytes at a time and renders
// each frame as a string: the message, or "oversize(N):excerpt",
// "truncated(N):part"; "#" marks an octet-counted frame.
func frameAll(tb testing.TB, data []byte, max, chunk int) []string {
	tb.Helper()
	f := newFramer(max)
	rd := &chunkReader{b: data, n: chunk}
	var out []string
	for reads := 0; ; reads++ {
		for {
			fr, ok := f.next()
			if !ok {
				break
			}
			out = append(out, renderFrame(fr))
		}
		if f.eof {
			return out
		}
		if reads > len(data)+10 {
			tb.Fatalf("framer does not progress: %d reads of %d bytes", reads, len(data))
		}
		if _, err := f.fill(rd); err != nil {
			f.eof = true
		}
	}
}

func renderFrame(fr frame) string {
	s := string(fr.msg)
	switch {
	case fr.truncated:
		s = fmt.Sprintf("truncated(%d):%s", fr.oversize, s)
	case fr.oversize > 0:
		s = fmt.Sprintf("oversize(%d):%s", fr.oversize, s)
	}
	if fr.octets {
		s = "#" + s
	}
	return s
}

func octet(msg string) string { return strconv.Itoa(len(msg)) + " " + msg }

func TestFramer(t *testing.T) {
	long := strings.Repeat("x", 600)
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{"octet counting", octet("<13>1 - - - - - - a") + octet("<13>1 - - - - - - b\n"),
			[]string{"#<13>1 - - - - - - a", "#<13>1 - - - - - - b\n"}},
		{"LF", "<13>a\n<13>b\n", []string{"<13>a", "<13>b"}},
		{"LF with CR kept, empty frames skipped", "<13>a\r\n\n\r\n<13>b\n", []string{"<13>a\r", "<13>b"}},
		{"mixed per frame", octet("<13>x\ny") + "<13>lf\n" + octet("<14>z"),
			[]string{"#<13>x\ny", "<13>lf", "#<14>z"}},
		{"LF inside an octet-counted frame", octet("<13>multi\nline\n"), []string{"#<13>multi\nline\n"}},
		{"last LF frame without LF", "<13>a\n<13>b", []string{"<13>a", "<13>b"}},
		{"digits without SP: LF frame", "123abc\n", []string{"123abc"}},
		{"leading zero: LF frame", "0 <13>a\n", []string{"0 <13>a"}},
		{"ten digits: LF frame", "1234567890 x\n", []string{"1234567890 x"}},
		{"oversized octet frame skipped", octet("<13>"+long) + octet("<13>next"),
			[]string{"#oversize(604):<13>" + long[:252], "#<13>next"}},
		{"oversized LF frame skipped to LF", "<13>" + long + "\n<13>next\n",
			[]string{"oversize(604):<13>" + long[:252], "<13>next"}},
		{"oversized LF frame at EOF", "<13>" + long + long,
			[]string{"oversize(" + "1204" + "):<13>" + long[:252]}},
		{"truncated octet frame", "20 <13>short", []string{"#truncated(20):<13>short"}},
		{"oversized frame cut by EOF", "9999 <13>" + long[:10], []string{"#oversize(9999):<13>" + long[:10]}},
		{"lone digits at EOF", "12", []string{"12"}},
		{"lone CR at EOF", "<13>a\n\r", []string{"<13>a"}},
	} {
		for _, chunk := range []int{1, 7, 1 << 20} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, chunk), func(t *testing.T) {
				got := frameAll(t, []byte(tc.in), 512, chunk)
				if strings.Join(got, "|") != strings.Join(tc.want, "|") {
					t.Errorf("got  %q\nwant %q", got, tc.want)
				}
			})
		}
	}
}

// FuzzFraming checks the framer on any stream: it never panics or stalls,
// frames do not depend on how the stream is cut into reads, no frame
// exceeds the limit, and a stream of octet-counted messages (the fuzz input
// cut at 0xff bytes) frames back into exactly those messages, oversized
// ones as their excerpts.
func FuzzFraming(f *testing.F) {
	f.Add([]byte(octet("<13>1 - - - - - - a")+"<13>b\n"), uint8(3))
	f.Add([]byte("12 <13>a\n99999 x\n\r\n"), uint8(1))
	f.Add(bytes.Repeat([]byte("x"), 100), uint8(5))
	f.Add([]byte("<13>a\xff\xff<13>b\xffccc"), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		const max = 64
		whole := frameAll(t, data, max, len(data)+1)
		cut := frameAll(t, data, max, int(chunk)%17+1)
		if strings.Join(whole, "\x00") != strings.Join(cut, "\x00") {
			t.Fatalf("framing depends on reads:\n%q\n%q", whole, cut)
		}
		f := newFramer(max)
		f.buf = append(f.buf[:0], data...)
		f.w, f.eof = len(data), true
		for {
			fr, ok := f.next()
			if !ok {
				break
			}
			if fr.oversize == 0 && !fr.truncated && len(fr.msg) > max || len(fr.msg) > max+excerptBytes {
				t.Fatalf("frame of %d bytes", len(fr.msg))
			}
		}

		msgs := bytes.Split(data, []byte{0xff})
		var stream []byte
		var want []string
		for _, m := range msgs {
			stream = append(stream, octet(string(m))...)
			if len(m) > max {
				want = append(want, renderFrame(frame{msg: m[:min(len(m), max+1)], octets: true, oversize: len(m)}))
				continue
			}
			if len(m) == 0 {
				// "0 " is not MSG-LEN: it starts an LF frame, which runs to
				// the next LF; skip this case.
				return
			}
			want = append(want, "#"+string(m))
		}
		got := frameAll(t, stream, max, int(chunk)%17+1)
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Fatalf("octet-counted stream:\n got %q\nwant %q", got, want)
		}
	})
}
