package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cdewatch/cdewatch/internal/auth"
	"github.com/cdewatch/cdewatch/internal/config"
	"github.com/cdewatch/cdewatch/internal/demo"
)

// benchConfig is the load generator's configuration.
type benchConfig struct {
	server      string
	token       string
	rate        int // events/s in total; 0 = as fast as acknowledged
	duration    time.Duration
	batch       int
	concurrency int
	acked       string // file to append acknowledged audit IDs to
}

func runBench(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	self := fs.Bool("self", false, "start a server in this process on a fresh temporary data directory and load it")
	server := fs.String("server", "http://127.0.0.1:8470", "cdewatch API URL")
	tokenFile := fs.String("token-file", "", "file holding an ingest token (with --server)")
	var c benchConfig
	fs.IntVar(&c.rate, "rate", 0, "target events per second in total (0: as fast as the server acknowledges)")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "how long to send")
	fs.IntVar(&c.batch, "batch", 400, "events per request (kube-apiserver's default --audit-webhook-batch-max-size is 400)")
	fs.IntVar(&c.concurrency, "concurrency", 8, "concurrent senders (clusters)")
	fs.StringVar(&c.acked, "acked", "", "append every acknowledged auditID to this file (for crash tests)")
	keep := fs.Bool("keep", false, "with --self: keep the temporary data directory")
	noIndex := fs.Bool("no-index", false, "with --self: run the server without the query index (ledger only)")
	noDetect := fs.Bool("no-detect", false, "with --self: run the server without the detector")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process (with --self: server and load) to this file")
	var level slog.Level
	fs.TextVar(&level, "log-level", slog.LevelWarn, "with --self: least severe messages of the server logged (debug, info, warn or error)")
	cfgPath := fs.String("config", "", "with --self: YAML configuration of the server (the bench sets its data directory and address, and --no-index and --no-detect decide)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if c.batch <= 0 || c.concurrency <= 0 || c.duration <= 0 {
		return fmt.Errorf("%w: --batch, --concurrency and --duration must be positive", errUsage)
	}
	c.server = *server
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if !*self {
		if *tokenFile == "" {
			return fmt.Errorf("%w: give --token-file with an ingest token (cdewatch token create --source bench), or use --self", errUsage)
		}
		tok, err := readSecret(*tokenFile)
		if err != nil {
			return err
		}
		c.token = tok
		res, err := benchLoad(ctx, c)
		if err != nil {
			return err
		}
		fmt.Println(res)
		return nil
	}
	dir, err := os.MkdirTemp("", "cdewatch-bench-")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(dir)
	}
	store, _, err := auth.Open(dir)
	if err != nil {
		return err
	}
	if c.token, _, err = store.Create(auth.RoleIngest, "bench"); err != nil {
		return err
	}
	readerToken, _, err := store.Create(auth.RoleLogReader, "")
	if err != nil {
		return err
	}
	metricsToken, _, err := store.Create(auth.RoleMetrics, "")
	if err != nil {
		return err
	}
	cfg := config.Default()
	if *cfgPath != "" {
		if cfg, err = config.Load(*cfgPath); err != nil {
			return err
		}
	}
	cfg.Data = dir
	cfg.Listen = "127.0.0.1:0"
	cfg.Index.Enabled = !*noIndex
	cfg.Detect.Enabled = !*noDetect
	srvCtx, stop := context.WithCancel(ctx)
	ready := make(chan string, 1)
	srvErr := make(chan error, 1)
	go func() {
		srvErr <- serve(srvCtx, cfg, false, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})), ready)
	}()
	select {
	case addr := <-ready:
		c.server = "http://" + addr
	case err := <-srvErr:
		stop()
		return err
	}
	// With the index, read its cursor while the load runs, to time each
	// acknowledged request until it is queryable.
	const probeEvery = 100 * time.Millisecond
	probeCtx, stopProbe := context.WithCancel(ctx)
	defer stopProbe()
	type probeResult struct {
		samples []visibilitySample
		err     error
	}
	probed := make(chan probeResult, 1)
	if cfg.Index.Enabled {
		go func() {
			s, err := probeVisibility(probeCtx, c.server, metricsToken, probeEvery)
			probed <- probeResult{s, err}
		}()
	}
	cpuStart, loadStart := processCPU(), time.Now()
	res, err := benchLoad(ctx, c)
	cpuLoad, loadTime := processCPU()-cpuStart, time.Since(loadStart)
	var catchUp, visibility string
	if err == nil && cfg.Index.Enabled {
		catchUp, err = indexCatchUp(ctx, c.server, readerToken, res.events)
		time.Sleep(2 * probeEvery) // a reading after the last catch-up count
		stopProbe()
		if p := <-probed; err == nil && p.err != nil {
			err = p.err
		} else {
			visibility = visibilityReport(res.acks, p.samples, probeEvery)
		}
	}
	cpuAll := processCPU() - cpuStart
	stop()
	if serr := <-srvErr; err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	disk, _ := dirSize(filepath.Join(dir, "ledger"))
	fmt.Println(res)
	fmt.Printf("ledger on disk: %d bytes = %.1f%% of %d bytes of raw audit JSON acknowledged\n", disk, 100*float64(disk)/float64(res.rawBytes), res.rawBytes)
	if catchUp != "" {
		fmt.Println(catchUp)
		fmt.Println(visibility)
	}
	fmt.Println(cpuReport(cpuLoad, loadTime, cpuAll, res.events, cfg.Index.Enabled))
	if *keep {
		fmt.Println("data directory kept:", dir)
	}
	return nil
}

// processCPU returns the CPU time this process has used (user and
// system), the server's and the load generator's with --self.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuReport says how much CPU the process used: on average during the
// load, and per acknowledged event until the load ended and, with the
// index, all were queryable (the flushes of the last staged rows to
// DuckDB may still follow).
func cpuReport(load, loadTime, all time.Duration, events int64, index bool) string {
	until := "until the load ended"
	if index {
		until = "until all were queryable"
	}
	perEvent := 0.0
	if events > 0 {
		perEvent = float64(all.Microseconds()) / float64(events)
	}
	return fmt.Sprintf("process CPU (server and load generator): %.2f of %d cores during the load; %.1f µs per acknowledged event %s",
		load.Seconds()/loadTime.Seconds(), runtime.NumCPU(), perEvent, until)
}

// indexCatchUp reports how many of the acked audit events queries did not
// see yet when the load ended, and how long after that they all were (the
// index runs at a lower priority than ingest: index.Options.Nice). It
// counts KubeAuditLogs rows with KQL through the API, as a reader would.
func indexCatchUp(ctx context.Context, server, token string, acked int64) (string, error) {
	start := time.Now()
	n, err := indexedEvents(ctx, server, token)
	if err != nil {
		return "", err
	}
	behind := acked - n
	for n < acked && time.Since(start) < 5*time.Minute {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if n, err = indexedEvents(ctx, server, token); err != nil {
			return "", err
		}
	}
	if n < acked {
		return fmt.Sprintf("query index: %d acked events not queryable when the load ended, still %d %v later", behind, acked-n, time.Since(start).Round(time.Second)), nil
	}
	return fmt.Sprintf("query index: %d acked events not queryable when the load ended, all queryable %.1fs later", behind, time.Since(start).Seconds()), nil
}

// indexedEvents counts the rows of KubeAuditLogs with a query.
func indexedEvents(ctx context.Context, server, token string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, server+"/v1/query", strings.NewReader(`{"query": "KubeAuditLogs | count"}`))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("count the indexed events: %w", err)
	}
	defer resp.Body.Close()
	var res struct {
		Tables []struct{ Rows [][]int64 }
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("count the indexed events: POST /v1/query: %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return 0, fmt.Errorf("count the indexed events: %w", err)
	}
	if len(res.Tables) != 1 || len(res.Tables[0].Rows) != 1 || len(res.Tables[0].Rows[0]) != 1 {
		return 0, fmt.Errorf("count the indexed events: unexpected answer %+v", res)
	}
	return res.Tables[0].Rows[0][0], nil
}

func dirSize(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			n += info.Size()
		}
		return nil
	})
	return n, err
}

// benchResult is what a load run measured.
type benchResult struct {
	events, requests int64
	rawBytes         int64
	elapsed          time.Duration
	latencies        []time.Duration // per request, from its intended send time to the acknowledgement
	acks             []benchAck      // per request that stored events
	failures         map[string]int
}

// benchAck is one acknowledged request: when the answer arrived and the
// ledger position after its last record.
type benchAck struct {
	at  time.Time
	end uint64
}

func (r *benchResult) String() string {
	slices.Sort(r.latencies)
	q := func(p float64) time.Duration {
		if len(r.latencies) == 0 {
			return 0
		}
		return r.latencies[min(len(r.latencies)-1, int(p*float64(len(r.latencies))))]
	}
	s := fmt.Sprintf("acknowledged %d events in %d requests over %v: %.0f events/s; ack latency p50 %v p90 %v p99 %v max %v",
		r.events, r.requests, r.elapsed.Round(time.Millisecond), float64(r.events)/r.elapsed.Seconds(),
		q(0.50).Round(10*time.Microsecond), q(0.90).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond), q(1).Round(10*time.Microsecond))
	if len(r.failures) > 0 {
		s += fmt.Sprintf("; failed requests: %v", r.failures)
	}
	return s
}

// eventPool holds realistic events whose auditID is rewritten per send.
type eventPool struct {
	events [][]byte
	idAt   []int // offset of the 36-character auditID value in each event
	run    uint32
}

func newEventPool(n int) (*eventPool, error) {
	p := &eventPool{}
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	p.run = binary.BigEndian.Uint32(b[:])
	g := demo.NewGenerator(uint64(p.run))
	key := []byte(`"auditID":"`)
	for range n {
		ev := g.Next()
		i := bytes.Index(ev, key)
		if i < 0 || len(ev) < i+len(key)+idLen {
			return nil, errors.New("generated event has no auditID")
		}
		p.events = append(p.events, ev)
		p.idAt = append(p.idAt, i+len(key))
	}
	return p, nil
}

// appendEvent appends event number seq (unique within the run) to b and
// returns the offset in b of its auditID (idLen bytes): a version 4 UUID
// as kube-apiserver's are, its bits the run and a bijective mix of seq,
// so that IDs are unique and look random (hex digits with letters, which
// is what the card-data scrubber sees in real events). It writes the ID
// in place, hex digit by hex digit: formatting it took a third of the
// load generator's CPU, which shares the machine with the server.
func (p *eventPool) appendEvent(b []byte, seq uint64) ([]byte, int) {
	k := int(seq % uint64(len(p.events)))
	at := len(b) + p.idAt[k]
	b = append(b, p.events[k]...)
	m := mix64(seq)
	id := b[at : at+idLen]
	putHex(id[0:8], uint64(p.run))
	id[8] = '-'
	putHex(id[9:13], m>>48)
	id[13], id[14] = '-', '4'
	putHex(id[15:18], m>>36)
	id[18] = '-'
	putHex(id[19:23], 0x8000|m>>22&0x3fff)
	id[23] = '-'
	putHex(id[24:36], uint64(p.run)<<22|m&0x3fffff)
	return b, at
}

// idLen is the length of an auditID.
const idLen = 36

// putHex writes the low 4*len(dst) bits of v into dst as lower-case hex
// digits, most significant first.
func putHex(dst []byte, v uint64) {
	const digits = "0123456789abcdef"
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = digits[v&0xf]
		v >>= 4
	}
}

// mix64 is SplitMix64's finalizer: a bijection on uint64 that spreads
// every input bit over the output.
func mix64(x uint64) uint64 {
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func benchLoad(ctx context.Context, c benchConfig) (*benchResult, error) {
	pool, err := newEventPool(2000)
	if err != nil {
		return nil, err
	}
	var ackedW *bufio.Writer
	var ackedMu sync.Mutex
	if c.acked != "" {
		f, err := os.OpenFile(c.acked, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		ackedW = bufio.NewWriter(f)
		defer ackedW.Flush()
	}
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: c.concurrency}}
	res := &benchResult{failures: map[string]int{}}
	var mu sync.Mutex
	var seq atomic.Uint64
	start := time.Now()
	deadline := start.Add(c.duration)
	var interval time.Duration
	if c.rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(c.batch*c.concurrency) / float64(c.rate))
	}
	var wg sync.WaitGroup
	for w := range c.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := make([]byte, 0, c.batch*2200)
			ids := make([]int, 0, c.batch) // offsets in body
			next := start.Add(time.Duration(w) * interval / time.Duration(c.concurrency))
			for ctx.Err() == nil {
				if interval > 0 {
					if d := time.Until(next); d > 0 {
						time.Sleep(d)
					}
				} else {
					next = time.Now()
				}
				if !next.Before(deadline) {
					return
				}
				body = append(body[:0], `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`...)
				ids = ids[:0]
				first := seq.Add(uint64(c.batch)) - uint64(c.batch)
				rawStart := len(body)
				for i := range c.batch {
					if i > 0 {
						body = append(body, ',')
					}
					var at int
					body, at = pool.appendEvent(body, first+uint64(i))
					ids = append(ids, at)
				}
				raw := int64(len(body) - rawStart - (c.batch - 1))
				body = append(body, "]}"...)
				status, ans, err := post(ctx, hc, c, body)
				acked := time.Now()
				lat := acked.Sub(next)
				mu.Lock()
				if err != nil || status != http.StatusOK {
					key := fmt.Sprint(status)
					if err != nil {
						key = err.Error()
					}
					res.failures[key]++
				} else {
					res.events += int64(c.batch)
					res.requests++
					res.rawBytes += raw
					res.latencies = append(res.latencies, lat)
					if ans.Accepted > 0 {
						res.acks = append(res.acks, benchAck{at: acked, end: ans.FirstSeq + uint64(ans.Accepted)})
					}
				}
				mu.Unlock()
				if err == nil && status == http.StatusOK && ackedW != nil {
					ackedMu.Lock()
					for _, at := range ids {
						ackedW.Write(body[at : at+idLen])
						ackedW.WriteByte('\n')
					}
					ackedW.Flush()
					ackedMu.Unlock()
				}
				if err != nil && ctx.Err() == nil {
					time.Sleep(50 * time.Millisecond) // server gone: do not spin
				}
				next = next.Add(interval)
			}
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res, nil
}

// ingestAnswer is what the bench reads of an ingest response.
type ingestAnswer struct {
	Accepted int    `json:"accepted"`
	FirstSeq uint64 `json:"first_seq"`
}

func post(ctx context.Context, hc *http.Client, c benchConfig, body []byte) (int, ingestAnswer, error) {
	var ans ingestAnswer
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.server+"/v1/ingest/k8s-audit", bytes.NewReader(body))
	if err != nil {
		return 0, ans, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, ans, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
			return resp.StatusCode, ans, fmt.Errorf("read the ingest answer: %w", err)
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, ans, nil
}
