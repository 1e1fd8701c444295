package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cdewatch/cdewatch/internal/fsutil"
	"github.com/cdewatch/cdewatch/internal/ingest"
)

const importUsage = `Usage: cdewatch import [flags] PATH...

Sends Azure diagnostic exports saved in files to the server (POST
/v1/ingest/azure): the JSON-lines blobs a diagnostic setting writes to a
storage account (insights-logs-kube-audit/resourceId=…/y=…/PT1H.json, and the
other categories), Event Hubs messages saved as files ({"records":[…]}), and
the same compressed with gzip (.gz). A PATH that is a folder is walked for
*.json, *.jsonl and *.ndjson files (and their .gz), in name order.

The token is an ingest token bound to the source the records belong to
(cdewatch token create --source <subscription or cluster>), from --token-file
or $CDEWATCH_TOKEN. Records that cannot be read are stored by the server as
ingest.reject records and counted. With --state, files sent completely are
remembered (path, size, modification time) and skipped when the command runs
again; a file sent only in part is sent again from its start (the server
drops redelivered records that carry an id: audit events, sign-ins).

Flags:`

func runImport(ctx context.Context, args []string) error {
	return importCommand(ctx, args, os.Stderr)
}

// importState is the --state file: the files sent completely.
type importState struct {
	Done map[string]importedFile `json:"done"`
}

type importedFile struct {
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mod_time"`
}

func importCommand(ctx context.Context, args []string, progress io.Writer) error {
	fset := flag.NewFlagSet("import", flag.ContinueOnError)
	server := fset.String("server", defaultServer, "cdewatch API URL")
	tokenFile := fset.String("token-file", "", "file holding an ingest token bound to the source (default: $CDEWATCH_TOKEN)")
	caFile := fset.String("ca", "", "PEM file of a certificate (or CA) to trust for an https server")
	stateFile := fset.String("state", "", "remember the files sent completely in this file, and skip them next time")
	batch := fset.Int("batch-bytes", 4<<20, "send at most this many bytes of records per request (a longer line goes alone)")
	fset.Usage = func() {
		fmt.Fprintln(fset.Output(), importUsage)
		fset.PrintDefaults()
	}
	paths, err := parseInterspersed(fset, args)
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return fmt.Errorf("%w: name the files or folders to import (-h for help)", errUsage)
	}
	if *batch < 1024 {
		return fmt.Errorf("%w: --batch-bytes %d: want at least 1024", errUsage, *batch)
	}
	secret, err := clientToken(*tokenFile, "an ingest token: cdewatch token create --source <name>")
	if err != nil {
		return err
	}
	c, err := newClient(*server, secret, *caFile, 5*time.Minute)
	if err != nil {
		return err
	}
	files, err := importFiles(paths)
	if err != nil {
		return err
	}
	st := importState{Done: map[string]importedFile{}}
	if *stateFile != "" {
		if b, err := os.ReadFile(*stateFile); err == nil {
			if err := json.Unmarshal(b, &st); err != nil {
				return fmt.Errorf("read state file %s: %w (remove it to send every file again)", *stateFile, err)
			}
			if st.Done == nil {
				st.Done = map[string]importedFile{}
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("read state file: %w", err)
		}
	}
	imp := &importer{c: c, batch: *batch, out: progress, start: time.Now()}
	for i, f := range files {
		info, err := os.Stat(f)
		if err != nil {
			return fmt.Errorf("import %s: %w", f, err)
		}
		if d, ok := st.Done[f]; ok && d.Size == info.Size() && d.ModTime.Equal(info.ModTime()) {
			imp.skipped++
			continue
		}
		if err := imp.file(ctx, f, i+1, len(files)); err != nil {
			imp.report(true)
			return fmt.Errorf("import %s: %w", f, err)
		}
		if *stateFile != "" {
			st.Done[f] = importedFile{Size: info.Size(), ModTime: info.ModTime()}
			b, _ := json.MarshalIndent(st, "", "  ")
			if err := fsutil.WriteFileAtomic(*stateFile, b, 0o600); err != nil {
				return fmt.Errorf("write state file: %w", err)
			}
		}
	}
	imp.report(true)
	if imp.rejected > 0 {
		fmt.Fprintf(progress, "%d records could not be read and are stored as ingest.reject records: see CdewatchAudit | where OperationName == \"ingest.reject\"\n", imp.rejected)
	}
	return nil
}

// importFiles expands folders into their export files, sorted, without
// repeats; files named explicitly are taken whatever their name.
func importFiles(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		info, err := os.Stat(abs)
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		if !info.IsDir() {
			out = append(out, abs)
			continue
		}
		err = filepath.WalkDir(abs, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := strings.TrimSuffix(d.Name(), ".gz")
			if d.Type().IsRegular() && (strings.HasSuffix(name, ".json") || strings.HasSuffix(name, ".jsonl") || strings.HasSuffix(name, ".ndjson")) {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("import: walking %s: %w", p, err)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// importer sends files and keeps the totals.
type importer struct {
	c                                     *client
	batch                                 int
	out                                   io.Writer
	start, last                           time.Time
	files, skipped, cur, total            int
	bytes                                 int64
	accepted, duplicates, rejected, posts int
}

func (imp *importer) file(ctx context.Context, path string, n, total int) error {
	imp.cur, imp.total = n, total
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("reading gzip: %w", err)
		}
		defer zr.Close()
		r = zr
	}
	br := bufio.NewReaderSize(r, 1<<20)
	// A file that is one JSON document (an Event Hubs body, perhaps
	// indented over many lines) is sent whole: its lines are not records.
	if head, _ := br.Peek(64 << 10); isDocument(head) {
		doc, err := io.ReadAll(io.LimitReader(br, maxDocumentFile+1))
		if err != nil {
			return fmt.Errorf("reading: %w", err)
		}
		if len(doc) > maxDocumentFile {
			return fmt.Errorf("a JSON document over %d bytes: split it into JSON lines", maxDocumentFile)
		}
		if err := imp.post(ctx, doc); err != nil {
			return err
		}
		imp.files++
		imp.report(false)
		return nil
	}
	var body bytes.Buffer
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && body.Len() > 0 && body.Len()+len(line) > imp.batch {
			if err := imp.post(ctx, body.Bytes()); err != nil {
				return err
			}
			body.Reset()
		}
		body.Write(line)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading: %w", err)
		}
	}
	if len(bytes.TrimSpace(body.Bytes())) > 0 {
		if err := imp.post(ctx, body.Bytes()); err != nil {
			return err
		}
	}
	imp.files++
	imp.report(false)
	return nil
}

// maxDocumentFile bounds a file sent as one document (the server's
// default request limit).
const maxDocumentFile = 16 << 20

// isDocument tells a file that holds one JSON document spread over
// several lines from JSON lines, by its first line: a JSON-lines file's
// first non-blank line is a complete value.
func isDocument(head []byte) bool {
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	for len(head) > 0 {
		line, rest, found := bytes.Cut(head, []byte("\n"))
		if t := bytes.TrimSpace(line); len(t) > 0 {
			return found && t[0] == '{' && !json.Valid(t)
		}
		head = rest
	}
	return false
}

// post sends one body, retrying while the server pushes back.
func (imp *importer) post(ctx context.Context, body []byte) error {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, imp.c.server+"/v1/ingest/azure", bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+imp.c.token)
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set("User-Agent", "cdewatch/"+version)
		resp, err := imp.c.http.Do(req)
		if err != nil {
			return fmt.Errorf("POST /v1/ingest/azure: %w (is `cdewatch serve` running at %s?)", err, imp.c.server)
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusOK:
			var res ingest.AzureResult
			if err := json.Unmarshal(b, &res); err != nil {
				return fmt.Errorf("the server's answer is not an ingest result: %w", err)
			}
			imp.bytes += int64(len(body))
			imp.accepted += res.Accepted
			imp.duplicates += res.Duplicates
			imp.rejected += res.Rejected
			imp.posts++
			for _, e := range res.Errors {
				fmt.Fprintf(imp.out, "rejected: %s\n", e)
			}
			imp.report(false)
			return nil
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
			wait := time.Duration(min(1<<min(attempt, 5), 30)) * time.Second
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
				wait = time.Duration(s) * time.Second
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(wait):
			}
		default:
			var e struct {
				Error string `json:"error"`
			}
			msg := strings.TrimSpace(string(b))
			if json.Unmarshal(b, &e) == nil && e.Error != "" {
				msg = e.Error
			}
			return fmt.Errorf("POST /v1/ingest/azure: %s: %s", resp.Status, msg)
		}
	}
}

// report prints the totals, at most once a second unless final.
func (imp *importer) report(final bool) {
	now := time.Now()
	if !final && now.Sub(imp.last) < time.Second {
		return
	}
	imp.last = now
	secs := max(now.Sub(imp.start).Seconds(), 1e-3)
	fmt.Fprintf(imp.out, "import: file %d of %d; %d files sent, %d skipped; %d records stored, %d already stored, %d rejected; %.1f MB, %.0f records/s\n",
		imp.cur, imp.total, imp.files, imp.skipped, imp.accepted, imp.duplicates, imp.rejected, float64(imp.bytes)/1e6, float64(imp.accepted)/secs)
}
