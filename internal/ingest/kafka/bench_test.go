package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdewatch/cdewatch/internal/ledger"
)

// benchRecords is the number of records BenchmarkConsume consumes per
// iteration.
const benchRecords = 200_000

// aksRecordGen makes Event Hubs bodies of AKS diagnostic exports
// ({"records":[…]}, one kube-audit record each, ~1.5 KB) with varying fields,
// so that compression in the ledger sees realistic data.
type aksRecordGen struct {
	rnd *rand.Rand
	t   time.Time
}

func newAKSRecordGen(seed uint64) *aksRecordGen {
	return &aksRecordGen{rnd: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), t: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)}
}

func (g *aksRecordGen) hex(n int) string {
	const digits = "0123456789abcdef"
	var b strings.Builder
	for range n {
		b.WriteByte(digits[g.rnd.IntN(16)])
	}
	return b.String()
}

func (g *aksRecordGen) next() []byte {
	verbs := []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	resources := []string{"pods", "secrets", "configmaps", "deployments", "leases", "events", "serviceaccounts"}
	users := []string{"system:serviceaccount:kube-system:coredns", "system:node:aks-nodepool1-12345678-vmss000001",
		"alice@contoso.com", "system:serviceaccount:payments:api", "system:kube-scheduler"}
	g.t = g.t.Add(time.Duration(g.rnd.IntN(5000)) * time.Microsecond)
	ts := g.t.Format(time.RFC3339Nano)
	id := fmt.Sprintf("%s-%s-%s-%s-%s", g.hex(8), g.hex(4), g.hex(4), g.hex(4), g.hex(12))
	verb, res, user := verbs[g.rnd.IntN(len(verbs))], resources[g.rnd.IntN(len(resources))], users[g.rnd.IntN(len(users))]
	ns := fmt.Sprintf("team-%02d", g.rnd.IntN(40))
	name := fmt.Sprintf("%s-%s", res[:len(res)-1], g.hex(10))
	audit := fmt.Sprintf(`{\"kind\":\"Event\",\"apiVersion\":\"audit.k8s.io/v1\",\"level\":\"Metadata\",\"auditID\":\"%s\",\"stage\":\"ResponseComplete\",`+
		`\"requestURI\":\"/api/v1/namespaces/%s/%s/%s\",\"verb\":\"%s\",\"user\":{\"username\":\"%s\",\"groups\":[\"system:authenticated\"]},`+
		`\"sourceIPs\":[\"10.%d.%d.%d\"],\"userAgent\":\"kubectl/v1.33.1 (linux/amd64) kubernetes/%s\",`+
		`\"objectRef\":{\"resource\":\"%s\",\"namespace\":\"%s\",\"name\":\"%s\",\"apiVersion\":\"v1\"},`+
		`\"responseStatus\":{\"metadata\":{},\"code\":%d},\"requestReceivedTimestamp\":\"%s\",\"stageTimestamp\":\"%s\",`+
		`\"annotations\":{\"pod-security.kubernetes.io/enforce-policy\":\"restricted:latest\",\"authorization.k8s.io/decision\":\"allow\",\"authorization.k8s.io/reason\":\"RBAC: allowed by ClusterRoleBinding \\\"%s\\\" of ClusterRole \\\"%s\\\" to User \\\"%s\\\"\"}}`,
		id, ns, res, name, verb, user, g.rnd.IntN(256), g.rnd.IntN(256), g.rnd.IntN(256), g.hex(7),
		res, ns, name, []int{200, 200, 200, 201, 403, 404}[g.rnd.IntN(6)], ts, ts, "crb-"+g.hex(6), "cr-"+g.hex(6), user)
	body := fmt.Sprintf(`{"records":[{"time":"%s","resourceId":"/SUBSCRIPTIONS/%s/RESOURCEGROUPS/RG-CDE/PROVIDERS/MICROSOFT.CONTAINERSERVICE/MANAGEDCLUSTERS/AKS-CDE-PROD",`+
		`"category":"kube-audit","operationName":"Microsoft.ContainerService/managedClusters/diagnosticLogs/Read",`+
		`"properties":{"log":"%s","stream":"stdout","pod":"kube-apiserver-%s","containerID":"%s"}}]}`,
		ts, strings.ToUpper(g.hex(8)+"-"+g.hex(4)+"-"+g.hex(4)+"-"+g.hex(4)+"-"+g.hex(12)), audit, g.hex(10), g.hex(64))
	return []byte(body)
}

// BenchmarkConsume produces benchRecords AKS audit exports (~1.5 KB) to
// kfake once, then per iteration consumes them all with a new group into a
// new ledger (fsync on the real disk of t.TempDir), the handler appending
// each raw value as one ledger record.
func BenchmarkConsume(b *testing.B) {
	cluster := newCluster(b)
	addrs := cluster.ListenAddrs()
	prod := newClient(b, addrs, kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(20000))
	gen := newAKSRecordGen(1)
	var rawBytes int64
	recs := make([]*kgo.Record, 0, 5000)
	for i := range benchRecords {
		v := gen.next()
		rawBytes += int64(len(v))
		recs = append(recs, &kgo.Record{Topic: testTopic, Key: fmt.Appendf(nil, "%d", i), Value: v})
		if len(recs) == cap(recs) || i == benchRecords-1 {
			if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}

	var total time.Duration
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		l, err := ledger.Open(ledger.Options{Dir: b.TempDir(), Origin: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		cfg := Config{
			Brokers: addrs, Topics: []string{testTopic}, Group: fmt.Sprintf("bench-%d", i), Source: "aks-audit",
			Logger: testLogger(b),
		}
		c := mustNew(b, cfg, func(ctx context.Context, _ string, msgs []Message) error {
			return appendValues(ctx, l, msgs)
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		b.StartTimer()
		start := time.Now()
		go func() { done <- c.Run(ctx) }()
		for c.Stats().Stored < benchRecords {
			time.Sleep(time.Millisecond)
		}
		elapsed := time.Since(start)
		b.StopTimer()
		total += elapsed
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		st := c.Stats()
		if st.Stored != benchRecords || l.Size() != benchRecords {
			b.Fatalf("stored %d, ledger has %d, want %d", st.Stored, l.Size(), benchRecords)
		}
		b.Logf("iteration %d: %d records in %v (%d polls, %.0f records/poll)", i, benchRecords, elapsed.Round(time.Millisecond),
			st.Polls, float64(st.Stored)/float64(st.Polls))
		if err := l.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(float64(benchRecords)*float64(b.N)/total.Seconds(), "events/s")
	b.ReportMetric(float64(rawBytes)*float64(b.N)/total.Seconds()/(1<<20), "MiB/s")
	b.ReportMetric(float64(rawBytes)/benchRecords, "B/record")
}

// TestAKSRecordGen checks that the benchmark's records are valid JSON of
// the intended size, with the audit event as a JSON string inside.
func TestAKSRecordGen(t *testing.T) {
	g := newAKSRecordGen(7)
	total := 0
	for range 1000 {
		v := g.next()
		total += len(v)
		var body struct {
			Records []struct {
				Category   string `json:"category"`
				Properties struct {
					Log string `json:"log"`
				} `json:"properties"`
			} `json:"records"`
		}
		if err := json.Unmarshal(v, &body); err != nil {
			t.Fatalf("invalid body: %v\n%s", err, v)
		}
		if len(body.Records) != 1 || body.Records[0].Category != "kube-audit" || !json.Valid([]byte(body.Records[0].Properties.Log)) {
			t.Fatalf("unexpected body: %s", v)
		}
	}
	if avg := total / 1000; avg < 1400 || avg > 1600 {
		t.Errorf("average record is %d bytes, want about 1.5 KB", avg)
	}
}
