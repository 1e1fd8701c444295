package ledger

import (
	"context"
	"syscall"
	"testing"
	"time"
)

func BenchmarkProbeVerify(b *testing.B) {
	dir := benchLedger(b)
	for range 3 {
		var r0, r1 syscall.Rusage
		syscall.Getrusage(0, &r0)
		t0 := time.Now()
		res, err := Verify(context.Background(), VerifyOptions{Dir: dir})
		if err != nil {
			b.Fatal(err)
		}
		wall := time.Since(t0)
		syscall.Getrusage(0, &r1)
		cpu := time.Duration(r1.Utime.Nano()-r0.Utime.Nano()+r1.Stime.Nano()-r0.Stime.Nano())
		b.Logf("leaves %d wall %v cpu %v (%.2f cores) %.0f rec/s", res.Leaves, wall, cpu, cpu.Seconds()/wall.Seconds(), float64(res.Leaves)/wall.Seconds())
	}
}
