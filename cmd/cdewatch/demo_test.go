package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/config"
	"github.com/cdewatch/cdewatch/internal/detect"
	"github.com/cdewatch/cdewatch/internal/event"
)

// serve --demo loads the synthetic day once, classified, into a fresh ledger.
func TestServeDemo(t *testing.T) {
	data := t.TempDir()
	cfg := config.Default()
	cfg.Data, cfg.Listen = data, "127.0.0.1:0"
	cfg.PCI.CDENamespaces = []string{"payments"}
	for round := range 2 {
		ctx, cancel := context.WithCancel(context.Background())
		ready := make(chan string, 1)
		errc := make(chan error, 1)
		go func() { errc <- serve(ctx, cfg, true, slog.New(slog.DiscardHandler), ready) }()
		<-ready
		deadline := time.Now().Add(60 * time.Second)
		for {
			if _, err := os.Stat(filepath.Join(data, "demo.loaded")); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("demo day not loaded after 60s")
			}
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
		if err := <-errc; err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
	}
	counts := map[string]int{}
	var classes event.Class
	for _, r := range readRecords(t, data) {
		if r.Table == event.TableKubeAudit {
			counts[r.Source]++
			classes |= r.PCI
		}
	}
	if len(counts) != 1 || counts[demoSource] < 20000 {
		t.Fatalf("demo events per source: %v", counts)
	}
	for _, c := range []event.Class{event.CHDAccess, event.AdminAction, event.InvalidAccess, event.CredentialChange, event.SystemObject} {
		if classes&c == 0 {
			t.Errorf("the demo day has no %s event", c)
		}
	}
	t.Logf("demo day: %d events, loaded once over two starts", counts[demoSource])
}

// TestDemoConfig: serve --demo allow-lists the demo's payments
// applications as secret readers, on top of the pack's default readers,
// and does not check the clock of the demo source, loaded as a backlog.
func TestDemoConfig(t *testing.T) {
	cfg := config.Default()
	if err := demoConfig(cfg); err != nil {
		t.Fatal(err)
	}
	sets, err := ruleSets(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	pack, ok := sets[0].(*detect.RuleSet)
	if !ok {
		t.Fatalf("first rule set is %T", sets[0])
	}
	readers, _ := pack.List("allowed_secret_readers")
	for _, want := range []string{"system:kube-controller-manager", "system:serviceaccount:payments:card-processor", "system:serviceaccount:payments:tokenizer"} {
		if !slices.Contains(readers, want) {
			t.Errorf("allowed_secret_readers %v lacks %s", readers, want)
		}
	}
	if ns, _ := pack.List("cde_namespaces"); !slices.Equal(ns, []string{"payments"}) {
		t.Errorf("cde_namespaces %v", ns)
	}
	hc := healthConfig(cfg, nil, nil, nil, nil, nil, slog.New(slog.DiscardHandler))
	if r := hc.Skew.Rules; len(r) != 1 || r[0].Match != demoSource || !r[0].Off {
		t.Errorf("skew rules %+v: the demo day's backlog would be taken for a clock off", r)
	}
}
