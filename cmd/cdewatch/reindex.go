package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/cdewatch/cdewatch/internal/index"
	"github.com/cdewatch/cdewatch/internal/ledger"
)

// runReindex rebuilds the query index from the ledger (the server must be stopped).
func runReindex(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("reindex", flag.ContinueOnError)
	data := fs.String("data", "./cdewatch-data", "data directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	led, err := ledger.Open(ledger.Options{Dir: ledgerDir(*data), Logger: log})
	if err != nil {
		return fmt.Errorf("open ledger (is `cdewatch serve` still running on this data directory?): %w", err)
	}
	defer led.Close()
	idx, err := index.Open(indexPath(*data), index.Options{Logger: log})
	if err != nil {
		return err
	}
	defer idx.Close()
	start := time.Now()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(os.Stderr, "indexed %d of %d records...\n", idx.Cursor(), led.Size())
			}
		}
	}()
	err = idx.Rebuild(ctx, led)
	close(done)
	if err != nil {
		return fmt.Errorf("rebuild index: %w", err)
	}
	st := idx.Stats()
	fmt.Printf("index rebuilt: %d records (%d indexed, %d of other tables skipped, %d invalid) in %v\n",
		st.Cursor, st.Indexed, st.Skipped, st.Invalid, time.Since(start).Round(time.Millisecond))
	return nil
}
