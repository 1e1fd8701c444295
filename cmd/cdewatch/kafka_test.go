package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdewatch/cdewatch/internal/config"
	"github.com/cdewatch/cdewatch/internal/event"
)

// TestKafkaEventHubsExport runs serve with a Kafka input on franz-go's
// kfake cluster (a real Kafka protocol peer in process), produces the
// Event Hubs messages an AKS diagnostic setting sends, one of them
// malformed, and checks that every record landed in its table, that the
// bad message was stored as a reject naming topic, partition and offset,
// and that the group's offsets were committed to the end.
func TestKafkaEventHubsExport(t *testing.T) {
	const topic = "insights-logs-kube-audit"
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	src := filepath.Join("..", "..", "internal", "azure", "testdata", "decode")
	var bodies [][]byte
	for _, f := range []string{"eventhubs-kube-audit.json", "eventhubs-activity.json", "eventhubs-signin.json"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	bodies = append(bodies, []byte(`{"records": [ this is not JSON`))
	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, b := range bodies {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: b}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	data := t.TempDir()
	ts := startServer(t, data, "", func(c *config.Config) {
		c.Kafka = []config.KafkaInput{{Name: "eh", Source: "aks-prod", Format: "azure", Group: "cdewatch", Brokers: cluster.ListenAddrs(), Topics: []string{topic}}}
	})
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(30 * time.Second)
	for {
		lag, err := adm.Lag(context.Background(), "cdewatch")
		if err == nil && lag.Error() == nil && lag["cdewatch"].Lag.Total() == 0 && committed(lag["cdewatch"].Lag) == int64(len(bodies)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("offsets not committed to the end after 30s: %v %v", lag, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	tables := map[string]int{}
	var reject string
	for _, r := range readRecords(t, data) {
		if r.Source == "aks-prod" {
			tables[r.Table]++
		}
		if r.Action == event.ActionIngestReject {
			reject = string(r.Raw)
		}
	}
	if tables[event.TableKubeAudit] == 0 || tables[event.TableAzureActivity] == 0 || tables[event.TableSigninLogs] == 0 {
		t.Errorf("records by table: %v", tables)
	}
	if !strings.Contains(reject, topic+"/") || !strings.Contains(reject, `"via":"kafka:eh"`) {
		t.Errorf("reject of the bad message: %s", reject)
	}
}

// committed sums the committed offsets of every partition.
func committed(l kadm.GroupLag) int64 {
	var n int64
	for _, ps := range l {
		for _, p := range ps {
			n += max(p.Commit.At, 0)
		}
	}
	return n
}
