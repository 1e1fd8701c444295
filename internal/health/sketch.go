package health

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Sketch geometry: durations are counted in buckets of sixteen per power of
// two of milliseconds, one set for each sign, so a quantile read from a
// sketch is within 1/33 (3 %) of a value of the bucket it falls in. Below
// a millisecond everything is one bucket (zero); from 2^32 ms (49 days) on,
// the last bucket.
const (
	subBuckets = 16
	octaves    = 32
	nBuckets   = subBuckets * octaves
)

// sketch is a compact histogram of durations: counts in logarithmic
// buckets plus the exact count, sum, minimum and maximum. The zero value
// is an empty sketch; the bucket arrays are allocated on first use.
type sketch struct {
	n        uint64
	sum      float64 // seconds
	min, max int64   // nanoseconds; meaningful when n > 0
	zero     uint64
	pos, neg *[nBuckets]uint32
}

// bucketOf returns the bucket of a positive number of nanoseconds of at
// least a millisecond.
func bucketOf(ns int64) int {
	ms := float64(ns) / 1e6
	bits := math.Float64bits(ms)
	e := int(bits>>52&0x7ff) - 1023
	i := e*subBuckets + int(bits>>(52-4)&(subBuckets-1))
	return min(max(i, 0), nBuckets-1)
}

// bucketValue is the middle of bucket i, in nanoseconds.
func bucketValue(i int) float64 {
	e, s := i/subBuckets, i%subBuckets
	lo := math.Ldexp(1+float64(s)/subBuckets, e)
	hi := math.Ldexp(1+float64(s+1)/subBuckets, e)
	return (lo + hi) / 2 * 1e6
}

// add counts one duration.
func (s *sketch) add(d time.Duration) {
	ns := int64(d)
	if s.n == 0 || ns < s.min {
		s.min = ns
	}
	if s.n == 0 || ns > s.max {
		s.max = ns
	}
	s.n++
	s.sum += d.Seconds()
	abs := ns
	if abs < 0 {
		abs = -abs
	}
	if abs < int64(time.Millisecond) {
		s.zero++
		return
	}
	b := &s.pos
	if ns < 0 {
		b = &s.neg
	}
	if *b == nil {
		*b = new([nBuckets]uint32)
	}
	i := bucketOf(abs)
	if (*b)[i] == math.MaxUint32 {
		s.halve()
	}
	(*b)[i]++
}

// halve divides every count by two (rounding up, so that no bucket in use
// empties): old observations weigh half as much as new ones.
func (s *sketch) halve() {
	var n uint64
	for _, b := range [...]*[nBuckets]uint32{s.pos, s.neg} {
		if b == nil {
			continue
		}
		for i, c := range b {
			b[i] = (c + 1) / 2
			n += uint64(b[i])
		}
	}
	s.zero = (s.zero + 1) / 2
	n += s.zero
	if s.n > 0 {
		s.sum *= float64(n) / float64(s.n)
	}
	s.n = n
}

// merge adds the counts of o.
func (s *sketch) merge(o *sketch) {
	if o.n == 0 {
		return
	}
	if s.n == 0 || o.min < s.min {
		s.min = o.min
	}
	if s.n == 0 || o.max > s.max {
		s.max = o.max
	}
	s.n += o.n
	s.sum += o.sum
	s.zero += o.zero
	for _, p := range [...]struct{ dst, src **[nBuckets]uint32 }{{&s.pos, &o.pos}, {&s.neg, &o.neg}} {
		if *p.src == nil {
			continue
		}
		if *p.dst == nil {
			*p.dst = new([nBuckets]uint32)
		}
		for i, c := range *p.src {
			(*p.dst)[i] = uint32(min(uint64((*p.dst)[i])+uint64(c), math.MaxUint32))
		}
	}
}

// quantile returns the q-quantile (0 <= q <= 1, nearest rank) of the
// durations counted, within the sketch's accuracy and clamped to the
// exact minimum and maximum; 0 for an empty sketch.
func (s *sketch) quantile(q float64) time.Duration {
	total := s.zero
	for _, b := range [...]*[nBuckets]uint32{s.pos, s.neg} {
		if b != nil {
			for _, c := range b {
				total += uint64(c)
			}
		}
	}
	if total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(total)))
	rank = min(max(rank, 1), total)
	switch rank {
	case 1:
		return time.Duration(s.min)
	case total:
		return time.Duration(s.max)
	}
	var seen uint64
	clamp := func(v float64) time.Duration {
		return time.Duration(min(max(v, float64(s.min)), float64(s.max)))
	}
	if s.neg != nil {
		for i := nBuckets - 1; i >= 0; i-- {
			if seen += uint64(s.neg[i]); seen >= rank {
				return clamp(-bucketValue(i))
			}
		}
	}
	if seen += s.zero; seen >= rank {
		return clamp(0)
	}
	if s.pos != nil {
		for i := range nBuckets {
			if seen += uint64(s.pos[i]); seen >= rank {
				return clamp(bucketValue(i))
			}
		}
	}
	return time.Duration(s.max)
}

// sketchJSON is a sketch as stored: the non-empty buckets as [index,
// count] pairs.
type sketchJSON struct {
	N    uint64      `json:"n"`
	Sum  float64     `json:"sum"`
	Min  int64       `json:"min"`
	Max  int64       `json:"max"`
	Zero uint64      `json:"zero,omitempty"`
	Pos  [][2]uint32 `json:"pos,omitempty"`
	Neg  [][2]uint32 `json:"neg,omitempty"`
}

// MarshalJSON implements json.Marshaler.
func (s *sketch) MarshalJSON() ([]byte, error) {
	j := sketchJSON{N: s.n, Sum: s.sum, Min: s.min, Max: s.max, Zero: s.zero}
	for _, p := range [...]struct {
		b   *[nBuckets]uint32
		out *[][2]uint32
	}{{s.pos, &j.Pos}, {s.neg, &j.Neg}} {
		if p.b == nil {
			continue
		}
		for i, c := range p.b {
			if c != 0 {
				*p.out = append(*p.out, [2]uint32{uint32(i), c})
			}
		}
	}
	return json.Marshal(j)
}

// UnmarshalJSON implements json.Unmarshaler.
func (s *sketch) UnmarshalJSON(b []byte) error {
	var j sketchJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*s = sketch{n: j.N, sum: j.Sum, min: j.Min, max: j.Max, zero: j.Zero}
	for _, p := range [...]struct {
		in  [][2]uint32
		dst **[nBuckets]uint32
	}{{j.Pos, &s.pos}, {j.Neg, &s.neg}} {
		for _, bc := range p.in {
			if bc[0] >= nBuckets {
				return fmt.Errorf("sketch bucket %d out of range [0, %d)", bc[0], nBuckets)
			}
			if *p.dst == nil {
				*p.dst = new([nBuckets]uint32)
			}
			(*p.dst)[bc[0]] = bc[1]
		}
	}
	return nil
}
