package index

import (
	"context"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/event"
	"github.com/cdewatch/cdewatch/internal/ingest"
	ingestsyslog "github.com/cdewatch/cdewatch/internal/ingest/syslog"
	"github.com/cdewatch/cdewatch/internal/ledger"
	"github.com/cdewatch/cdewatch/internal/scrub"
)

// syslogLedger stores messages in a real ledger the way cdewatch does:
// sent over TCP to the syslog receiver, through the ingest pipeline (which
// masks card numbers). Then it appends a Syslog record whose Raw does not
// parse, which the receiver never writes, for the mapping's fallback.
func syslogLedger(tb testing.TB, msgs []string) *ledger.Ledger {
	tb.Helper()
	l, err := ledger.Open(ledger.Options{Dir: tb.TempDir(), Origin: "test.cdewatch/index", CheckpointInterval: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	now := func() time.Time { return testReceived }
	discard := slog.New(slog.DiscardHandler)
	p := &ingest.Pipeline{Ledger: l, Scrubber: scrub.New(scrub.Options{}), Now: now, Log: discard}
	s, err := ingestsyslog.Listen(ingestsyslog.Listener{Network: ingestsyslog.NetworkTCP, Address: "127.0.0.1:0", Source: "web"},
		ingestsyslog.Options{Store: p, Log: discard, Now: now, MaxBatchDelay: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(context.Background()) }()
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(strconv.Itoa(len(m)) + " " + m)
	}
	if _, err := c.Write([]byte(b.String())); err != nil {
		tb.Fatal(err)
	}
	c.Close()
	deadline := time.Now().Add(20 * time.Second)
	for s.Stats().Received < uint64(len(msgs)) {
		if time.Now().After(deadline) {
			tb.Fatalf("receiver stats %+v", s.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.Close() // stores the one batch
	if err := <-done; err != nil {
		tb.Fatal(err)
	}
	if st := s.Stats(); st.Stored != uint64(len(msgs)) {
		tb.Fatalf("receiver stats %+v", st)
	}
	bad := event.Record{Time: testReceived, Received: testReceived, Source: "web", Table: event.TableSyslog,
		Action: "user.notice", Outcome: event.Unknown, OriginIP: "192.0.2.9", Resource: "192.0.2.9", Raw: []byte("<999>not syslog")}
	enc, err := bad.MarshalBinary()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := l.Append(context.Background(), [][]byte{enc}); err != nil {
		tb.Fatal(err)
	}
	return l
}

// TestSyslogRows indexes syslog records from a real ledger and checks the
// rows: the golden file testdata/Syslog.golden.json, and queries on the
// columns analysts use.
func TestSyslogRows(t *testing.T) {
	l := syslogLedger(t, []string{
		`<86>1 2026-01-02T16:53:19.819474+01:00 web-01.example.com sshd 4242 ID47 [timeQuality tzKnown="1" isSynced="0"][origin ip="10.0.0.5" software="OpenSSH"] Failed password for root from 198.51.100.7 port 52144 ssh2`,
		`<85>Nov 26 15:53:19 web-02 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/cat /etc/shadow`,
		`<13>Jan  2 16:59:00 cron[123]: no hostname`,
		"just text, no PRI, no timestamp\n",
		`<134>1 2026-01-02T16:00:00Z pay-01 payments - - [order id="A\"1\]"][order id="dup"] refund to card 4111 1111 1111 1111`,
		"<14>1 - - app proc-a - - \xef\xbb\xbfBOM and a non-numeric PROCID",
	})
	x := indexed(t, l)
	checkGolden(t, "Syslog.golden.json", renderRows(t, x, TableSyslog))
	for _, tc := range []struct {
		query string
		want  int64
	}{
		{`SELECT count(*) FROM Syslog`, 7},
		{`SELECT count(*) FROM Syslog WHERE ProcessName = 'sshd' AND Facility = 'authpriv' AND SeverityLevel = 'info' AND ProcessID = 4242 AND HostName = 'web-01.example.com'`, 1},
		{`SELECT count(*) FROM Syslog WHERE json_extract_string(StructuredData, '$.timeQuality.tzKnown') = '1' AND json_extract_string(StructuredData, '$.origin.software') = 'OpenSSH'`, 1},
		{`SELECT count(*) FROM Syslog WHERE json_extract_string(StructuredData, '$.order.id') = 'A"1]'`, 1},
		{`SELECT count(*) FROM Syslog WHERE EventTime = TIMESTAMP '2026-01-02 15:53:19.819474' AND TimeGenerated = EventTime`, 1},
		{`SELECT count(*) FROM Syslog WHERE EventTime = TIMESTAMP '2025-11-26 15:53:19'`, 1}, // RFC 3164: the year before ReceivedTime
		{`SELECT count(*) FROM Syslog WHERE EventTime IS NULL AND TimeGenerated = ReceivedTime`, 3},
		{`SELECT count(*) FROM Syslog WHERE HostName = '' AND Computer = '127.0.0.1' AND HostIP = '127.0.0.1' AND CallerIpAddress = '127.0.0.1'`, 3},
		{`SELECT count(*) FROM Syslog WHERE SyslogMessage LIKE '%4111 1111 1111 1111%' OR SyslogMessage LIKE '%4111111111111111%'`, 0},
		{`SELECT count(*) FROM Syslog WHERE SyslogMessage = 'refund to card 4111 11** **** 1111'`, 1},
		{`SELECT count(*) FROM Syslog WHERE SyslogFormat = 'RFC3164' AND Facility = 'user' AND SeverityLevel = 'notice' AND SyslogMessage = 'just text, no PRI, no timestamp'`, 1},
		{`SELECT count(*) FROM Syslog WHERE SyslogFormat = '' AND Facility = '' AND SyslogMessage = '<999>not syslog'`, 1},
		{`SELECT count(*) FROM Syslog WHERE Source = 'web' AND Outcome = 'unknown' AND SourceSystem = 'Syslog'`, 7},
	} {
		if got := queryInt(t, x, tc.query); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.query, got, tc.want)
		}
	}
}
