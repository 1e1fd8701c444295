package syslog

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/ingest"
	"github.com/cdewatch/cdewatch/internal/ledger"
	"github.com/cdewatch/cdewatch/internal/scrub"
)

// benchStream returns n realistic messages of about 200 bytes, octet
// counted, and the offset after each.
func benchStream(n int) ([]byte, []int) {
	var out []byte
	ends := make([]int, n)
	for i := range n {
		var m string
		switch i % 4 {
		case 0:
			m = fmt.Sprintf(`<86>1 2026-11-26T15:53:19.%06d+00:00 web-%02d.prod.example.com sshd %d - [timeQuality tzKnown="1" isSynced="1"] Accepted publickey for deploy from 10.1.2.%d port %d ssh2: ED25519 SHA256:Zx9`,
				i%1000000, i%32, 4000+i%1000, i%250, 40000+i%20000)
		case 1:
			m = fmt.Sprintf(`<85>Nov 26 15:53:19 web-%02d sudo:    alice : TTY=pts/%d ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/systemctl restart nginx.service --no-block --job-mode=replace-irreversibly --show-transaction`, i%32, i%8)
		case 2:
			m = fmt.Sprintf(`<134>1 2026-11-26T15:53:19.%06dZ pay-%02d payments-api %d AUDIT [req@32473 id="%08x" user="svc-batch"] GET /v1/tokens/%08x 200 12ms from 10.20.0.%d ua="Go-http-client/1.1"`,
				i%1000000, i%16, 100+i%50, i, i*7, i%250)
		default:
			m = fmt.Sprintf(`<30>Nov 26 15:53:19 node-%02d kubelet[%d]: I1126 15:53:19.%06d %d kubelet.go:2456] "SyncLoop (PLEG): event for pod" pod="payments/api-%x" event={"Type":"ContainerStarted"}`,
				i%32, 900+i%10, i%1000000, 900+i%10, i)
		}
		out = append(out, octet(m)...)
		ends[i] = len(out)
	}
	return out, ends
}

// BenchmarkTCPToLedger measures syslog over loopback TCP, octet counted,
// through the receiver and the shared pipeline (PAN scrubbing included)
// into a real ledger (fsync per group commit), over 1 and 4 connections.
// It reports messages stored per second:
//
//	go test ./internal/ingest/syslog -run '^$' -bench TCPToLedger -benchtime 500000x
func BenchmarkTCPToLedger(b *testing.B) {
	stream, ends := benchStream(10000)
	b.Logf("%d bytes per message on average", ends[len(ends)-1]/len(ends))
	for _, conns := range []int{1, 4} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			l, err := ledger.Open(ledger.Options{Dir: b.TempDir(), Origin: "bench.cdewatch/syslog"})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			p := &ingest.Pipeline{Ledger: l, Scrubber: scrub.New(scrub.Options{}), Stats: ingest.NewStats(nil), Now: time.Now, Log: testLog(b)}
			s := serve(b, Listener{Network: NetworkTCP, Source: "bench"}, Options{Store: p})
			b.SetBytes(int64(ends[len(ends)-1] / len(ends)))
			b.ResetTimer()
			start := time.Now()
			errs := make(chan error, conns)
			for c := range conns {
				n := b.N / conns
				if c == 0 {
					n += b.N % conns
				}
				go func() { errs <- sendN(s.Addr().String(), stream, ends, n) }()
			}
			for range conns {
				if err := <-errs; err != nil {
					b.Fatal(err)
				}
			}
			waitFor(b, "all messages stored", func() bool { return s.Stats().Stored >= uint64(b.N) })
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
			if st := s.Stats(); st.Rejected != 0 || st.Lost != 0 {
				b.Fatalf("stats %+v", st)
			}
		})
	}
}

// sendN writes n messages of stream (cycling) on one connection.
func sendN(addr string, stream []byte, ends []int, n int) error {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	for n > 0 {
		k := min(n, len(ends))
		if _, err := c.Write(stream[:ends[k-1]]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}
