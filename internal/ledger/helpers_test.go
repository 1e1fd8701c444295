package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"golang.org/x/mod/sumdb/tlog"
)

// TestMain runs the crash test's child when asked to, and removes the
// shared fixtures after the tests.
func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		crashChild()
		return
	}
	code := m.Run()
	if fixture != nil {
		os.RemoveAll(fixture.dir)
	}
	if verifyBench.dir != "" {
		os.RemoveAll(verifyBench.dir)
	}
	os.Exit(code)
}

// testDecoder decodes block payloads in tests, as the ledger's readers do.
var testDecoder = newDecoder()

// testOptions returns options for a test ledger in dir. Checkpoints are
// signed only when a test asks (signNow) or at Close, so that the tree sizes
// the checkpoints cover are deterministic.
func testOptions(dir string) Options {
	return Options{Dir: dir, Origin: "test.cdewatch/ledger", CheckpointInterval: time.Hour}
}

// openLedger opens the ledger described by o and closes it when the test ends.
func openLedger(tb testing.TB, o Options) *Ledger {
	tb.Helper()
	l, err := Open(o)
	if err != nil {
		tb.Fatalf("Open(%s): %v", o.Dir, err)
	}
	tb.Cleanup(func() { l.Close() })
	return l
}

func closeLedger(tb testing.TB, l *Ledger) {
	tb.Helper()
	if err := l.Close(); err != nil {
		tb.Fatalf("Close: %v", err)
	}
}

// appendRecs appends recs in one call and checks the sequence number.
func appendRecs(tb testing.TB, l *Ledger, recs [][]byte) uint64 {
	tb.Helper()
	want := l.Size()
	first, err := l.Append(context.Background(), recs)
	if err != nil {
		tb.Fatalf("Append(%d records): %v", len(recs), err)
	}
	if first != want {
		tb.Fatalf("Append returned first %d, want %d", first, want)
	}
	return first
}

// smallRecord is a short record unique to i.
func smallRecord(i int) []byte {
	return fmt.Appendf(nil, "record %d: %x", i, sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i))))[:40]
}

func smallRecords(from, n int) [][]byte {
	recs := make([][]byte, n)
	for i := range recs {
		recs[i] = smallRecord(from + i)
	}
	return recs
}

// readAll returns every record of l.
func readAll(tb testing.TB, l *Ledger) [][]byte {
	tb.Helper()
	var out [][]byte
	err := l.ReadRange(0, l.Size(), func(seq uint64, rec []byte) error {
		if seq != uint64(len(out)) {
			return fmt.Errorf("ReadRange gave seq %d, want %d", seq, len(out))
		}
		out = append(out, append([]byte(nil), rec...))
		return nil
	})
	if err != nil {
		tb.Fatalf("ReadRange: %v", err)
	}
	return out
}

func checkRecords(tb testing.TB, l *Ledger, want [][]byte) {
	tb.Helper()
	got := readAll(tb, l)
	if len(got) != len(want) {
		tb.Fatalf("ledger holds %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if string(got[i]) != string(want[i]) {
			tb.Fatalf("record %d = %q, want %q", i, trunc(got[i]), trunc(want[i]))
		}
	}
}

func trunc(b []byte) string {
	if len(b) > 60 {
		return string(b[:60]) + "…"
	}
	return string(b)
}

func mustVerify(tb testing.TB, dir string) *VerifyResult {
	tb.Helper()
	res, err := Verify(context.Background(), VerifyOptions{Dir: dir})
	if err != nil {
		tb.Fatalf("Verify: %v", err)
	}
	return res
}

// memTree keeps the stored hashes of a tree in memory, computed with
// golang.org/x/mod/sumdb/tlog independently of the ledger.
type memTree struct {
	hashes []tlog.Hash
	n      int64
}

func (m *memTree) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		if x < 0 || x >= int64(len(m.hashes)) {
			return nil, fmt.Errorf("memTree: no hash %d", x)
		}
		out[i] = m.hashes[x]
	}
	return out, nil
}

func (m *memTree) add(tb testing.TB, recs ...[]byte) {
	tb.Helper()
	for _, r := range recs {
		hs, err := tlog.StoredHashes(m.n, r, m)
		if err != nil {
			tb.Fatal(err)
		}
		m.hashes = append(m.hashes, hs...)
		m.n++
	}
}

func (m *memTree) root(tb testing.TB, n int64) tlog.Hash {
	tb.Helper()
	h, err := tlog.TreeHash(n, m)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

// mth is the RFC 6962 §2.1 Merkle tree hash, written out directly.
func mth(recs [][]byte) []byte {
	switch len(recs) {
	case 0:
		h := sha256.Sum256(nil)
		return h[:]
	case 1:
		h := sha256.Sum256(append([]byte{0}, recs[0]...))
		return h[:]
	}
	k := 1
	for k*2 < len(recs) {
		k *= 2
	}
	h := sha256.Sum256(append(append([]byte{1}, mth(recs[:k])...), mth(recs[k:])...))
	return h[:]
}

// recGen makes realistic records: Kubernetes audit events as JSON, about
// 1.9 KB each. As in a real cluster the same objects, users and images
// recur (pools), while every event has its own random audit ID, trace ID,
// resource versions, source address and timestamps.
type recGen struct {
	r       *rand.Rand
	t       time.Time
	objects []genObject
	users   []genUser
}

type genObject struct {
	ns, res, name, uid, podUID, image, templateHash, node, podIP string
	port, cpu, mem                                               int
}

type genUser struct{ name, uid string }

func newRecGen(seed uint64) *recGen {
	g := &recGen{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), t: time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)}
	images := make([]string, 40)
	for i := range images {
		images[i] = fmt.Sprintf("acr%s.azurecr.io/%s/app@sha256:%s", g.hex(6), g.pick(genNamespaces), g.hex(64))
	}
	for range 2000 {
		res := g.pick(genResources)
		g.objects = append(g.objects, genObject{
			ns: g.pick(genNamespaces), res: res, name: fmt.Sprintf("%s-%s-%s", res[:len(res)-1], g.hex(10), g.hex(5)),
			uid: g.uuid(), podUID: g.uuid(), image: images[g.r.IntN(len(images))], templateHash: g.hex(10),
			node:  fmt.Sprintf("aks-nodepool1-%d-vmss%06d", 31718369, g.r.IntN(40)),
			podIP: fmt.Sprintf("10.244.%d.%d", g.r.IntN(256), g.r.IntN(256)),
			port:  8000 + g.r.IntN(1000), cpu: 100 * (1 + g.r.IntN(20)), mem: 128 * (1 + g.r.IntN(16)),
		})
	}
	for _, u := range genUsers {
		g.users = append(g.users, genUser{u, g.uuid()})
	}
	return g
}

var (
	genNamespaces = []string{"payments", "card-vault", "checkout", "kube-system", "monitoring", "ingress-nginx", "tokenizer", "fraud-scoring"}
	genVerbs      = []string{"get", "list", "watch", "create", "update", "patch", "delete"}
	genResources  = []string{"pods", "secrets", "configmaps", "deployments", "services", "serviceaccounts", "rolebindings", "leases"}
	genUsers      = []string{"system:serviceaccount:kube-system:replicaset-controller", "alice@corp.example", "bob@corp.example", "system:kube-scheduler", "system:serviceaccount:payments:api", "system:node:aks-nodepool1-31718369-vmss000002"}
	genAgents     = []string{"kubectl/v1.30.2 (linux/amd64) kubernetes/3968350", "kube-controller-manager/v1.30.2 (linux/amd64) kubernetes/3968350/system:serviceaccount:kube-system:replicaset-controller", "Go-http-client/2.0", "argocd-application-controller/v0.0.0 (linux/amd64) kubernetes/$Format"}
)

func (g *recGen) pick(s []string) string { return s[g.r.IntN(len(s))] }

func (g *recGen) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.r.IntN(16)]
	}
	return string(b)
}

func (g *recGen) uuid() string {
	return g.hex(8) + "-" + g.hex(4) + "-" + g.hex(4) + "-" + g.hex(4) + "-" + g.hex(12)
}

func (g *recGen) next() []byte {
	g.t = g.t.Add(time.Duration(g.r.IntN(50_000)) * time.Microsecond)
	o := g.objects[g.r.IntN(len(g.objects))]
	u := g.users[g.r.IntN(len(g.users))]
	verb := g.pick(genVerbs)
	code := 200
	if g.r.IntN(20) == 0 {
		code = 403
	}
	ts := g.t.Format(time.RFC3339Nano)
	ts2 := g.t.Add(time.Duration(g.r.IntN(90_000)) * time.Microsecond).Format(time.RFC3339Nano)
	var b strings.Builder
	fmt.Fprintf(&b, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"%s","stage":"ResponseComplete",`, g.uuid())
	fmt.Fprintf(&b, `"requestURI":"/api/v1/namespaces/%s/%s/%s?resourceVersion=%d&timeout=%ds","verb":"%s",`, o.ns, o.res, o.name, g.r.IntN(1<<30), g.r.IntN(600), verb)
	fmt.Fprintf(&b, `"user":{"username":"%s","uid":"%s","groups":["system:authenticated","system:masters"]},`, u.name, u.uid)
	fmt.Fprintf(&b, `"sourceIPs":["10.%d.%d.%d"],"userAgent":"%s",`, g.r.IntN(256), g.r.IntN(256), g.r.IntN(256), g.pick(genAgents))
	fmt.Fprintf(&b, `"objectRef":{"resource":"%s","namespace":"%s","name":"%s","uid":"%s","apiVersion":"v1","resourceVersion":"%d"},`, o.res, o.ns, o.name, o.uid, g.r.IntN(1<<31))
	fmt.Fprintf(&b, `"responseStatus":{"metadata":{},"code":%d},`, code)
	fmt.Fprintf(&b, `"responseObject":{"kind":"Pod","apiVersion":"v1","metadata":{"name":"%s","namespace":"%s","uid":"%s","resourceVersion":"%d","creationTimestamp":"%s",`, o.name, o.ns, o.podUID, g.r.IntN(1<<31), ts)
	fmt.Fprintf(&b, `"labels":{"app":"%s","pod-template-hash":"%s","pci-scope":"cde"}},`, o.ns, o.templateHash)
	fmt.Fprintf(&b, `"spec":{"containers":[{"name":"app","image":"%s","ports":[{"containerPort":%d,"protocol":"TCP"}],`, o.image, o.port)
	fmt.Fprintf(&b, `"resources":{"limits":{"cpu":"%dm","memory":"%dMi"}}}],`, o.cpu, o.mem)
	fmt.Fprintf(&b, `"nodeName":"%s","serviceAccountName":"%s"},"status":{"phase":"Running","podIP":"%s"}},`, o.node, o.ns, o.podIP)
	fmt.Fprintf(&b, `"requestReceivedTimestamp":"%s","stageTimestamp":"%s",`, ts, ts2)
	fmt.Fprintf(&b, `"annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by ClusterRoleBinding \"%s-binding\" of ClusterRole \"%s\" to ServiceAccount \"%s/%s\"","pod-security.kubernetes.io/enforce-policy":"restricted:latest","trace":"%s"}}`, o.ns, verb, o.ns, u.name, g.hex(32))
	return []byte(b.String())
}

func (g *recGen) batch(n int) [][]byte {
	recs := make([][]byte, n)
	for i := range recs {
		recs[i] = g.next()
	}
	return recs
}

// blockInfo locates one block in a segment file.
type blockInfo struct {
	seg          string
	off, total   int
	first, count uint64
}

// listBlocks parses every block of every segment of the ledger in dir.
func listBlocks(tb testing.TB, dir string) []blockInfo {
	tb.Helper()
	var out []blockInfo
	for _, seg := range segmentPaths(tb, dir) {
		data, err := os.ReadFile(seg)
		if err != nil {
			tb.Fatal(err)
		}
		for off := segmentHdrSize; off < len(data); {
			h, _, total, err := parseBlock(data[off:])
			if err != nil {
				tb.Fatalf("%s offset %d: %v", seg, off, err)
			}
			out = append(out, blockInfo{seg: seg, off: off, total: total, first: h.first, count: uint64(h.count)})
			off += total
		}
	}
	return out
}

func segmentPaths(tb testing.TB, dir string) []string {
	tb.Helper()
	segs, err := listSegments(filepath.Join(dir, dirSegments))
	if err != nil {
		tb.Fatal(err)
	}
	paths := make([]string, len(segs))
	for i, s := range segs {
		paths[i] = s.path
	}
	return paths
}

// blockOf returns the block holding leaf.
func blockOf(tb testing.TB, dir string, leaf uint64) blockInfo {
	tb.Helper()
	for _, b := range listBlocks(tb, dir) {
		if leaf >= b.first && leaf < b.first+b.count {
			return b
		}
	}
	tb.Fatalf("no block holds leaf %d", leaf)
	return blockInfo{}
}

// rewriteBlock decodes a block, lets edit change its records and writes it
// back as a well-formed block (count and checksum valid), as an adversary
// with write access would.
func rewriteBlock(tb testing.TB, b blockInfo, edit func([][]byte) [][]byte) {
	tb.Helper()
	data, err := os.ReadFile(b.seg)
	if err != nil {
		tb.Fatal(err)
	}
	h, payload, total, err := parseBlock(data[b.off:])
	if err != nil {
		tb.Fatal(err)
	}
	recs, _, err := decodeRecords(testDecoder, payload, h.count, nil)
	if err != nil {
		tb.Fatal(err)
	}
	recs = edit(recs)
	enc, _ := zstd.NewWriter(nil)
	nb := encodeBlockBody(enc, recs)
	h.count = uint32(len(recs))
	sealBlock(nb, h)
	out := append(append(append([]byte(nil), data[:b.off]...), nb...), data[b.off+total:]...)
	writeFile(tb, b.seg, out)
}

// makeBlock builds a well-formed block holding recs from leaf first on.
func makeBlock(first uint64, recs [][]byte) []byte {
	enc, _ := zstd.NewWriter(nil)
	b := encodeBlockBody(enc, recs)
	sealBlock(b, blockHeader{first: first, count: uint32(len(recs)), commit: time.Now().UnixNano(), codec: codecZstd})
	return b
}

func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func writeFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

func appendFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		tb.Fatal(err)
	}
}

func truncateFile(tb testing.TB, path string, size int64) {
	tb.Helper()
	if err := os.Truncate(path, size); err != nil {
		tb.Fatal(err)
	}
}

func flipByte(tb testing.TB, path string, off int64) {
	tb.Helper()
	b := readFile(tb, path)
	if off < 0 || off >= int64(len(b)) {
		tb.Fatalf("flip offset %d outside %s (%d bytes)", off, path, len(b))
	}
	b[off] ^= 0x20
	writeFile(tb, path, b)
}

// snapshotFiles returns the content of every file of a ledger directory
// except the lock file, to check that a refused Open changed nothing.
func snapshotFiles(tb testing.TB, dir string) map[string]string {
	tb.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() == fileLock {
			return err
		}
		b, err := os.ReadFile(path)
		out[path] = string(b)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

func checkUnchanged(tb testing.TB, before, after map[string]string) {
	tb.Helper()
	for p, b := range before {
		a, ok := after[p]
		switch {
		case !ok:
			tb.Errorf("%s was removed", p)
		case a != b:
			tb.Errorf("%s was modified (%d bytes, was %d)", p, len(a), len(b))
		}
	}
	for p := range after {
		if _, ok := before[p]; !ok {
			tb.Errorf("%s was created", p)
		}
	}
}

func asVerifyError(tb testing.TB, err error) *VerifyError {
	tb.Helper()
	var ve *VerifyError
	if !errors.As(err, &ve) {
		tb.Fatalf("error is not a *VerifyError: %v", err)
	}
	return ve
}
