package witness

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/logtest"
	"github.com/cdewatch/cdewatch/internal/proctest"
	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
)

// The tests in this file run a real witness: litewitness from
// filippo.io/torchwood v0.6.1, with its key in a real ssh-agent. Logs are
// registered in its database as torchwood's witnessctl does it (add-log,
// add-key, list-logs), through the sqlite3 command: witnessctl cannot be
// built here, as one of its dependencies (sigsum.org/sigsum-go) is not
// served by this machine's module proxy.
const installHint = "go install filippo.io/torchwood/cmd/litewitness@v0.6.1 " +
	"(and apt-get install openssh-client sqlite3 for ssh-agent, ssh-add, ssh-keygen and sqlite3)"

// tools finds the programs the real witness needs. Without them the test
// is skipped, naming the install command, except under CI (CI set), where
// it fails: CI must run it.
func tools(tb testing.TB) map[string]string {
	tb.Helper()
	dirs := []string{os.Getenv("GOBIN")}
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.Join(strings.Split(gp, string(os.PathListSeparator))[0], "bin"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	found := map[string]string{}
	var missing []string
	for _, name := range []string{"litewitness", "sqlite3", "ssh-agent", "ssh-add", "ssh-keygen"} {
		if p, err := exec.LookPath(name); err == nil {
			found[name] = p
			continue
		}
		for _, d := range dirs {
			if p := filepath.Join(d, name); d != "" && isExecutable(p) {
				found[name] = p
				break
			}
		}
		if found[name] == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		msg := "real witness unavailable: " + strings.Join(missing, ", ") + " not found; install with: " + installHint
		proctest.Missing(tb, msg)
	}
	return found
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// liteWitness is a running litewitness with a dedicated ssh-agent.
type liteWitness struct {
	tb     testing.TB
	bin    map[string]string
	dir    string
	db     string
	sock   string
	name   string
	fp     string // SSH fingerprint of the witness key
	addr   string
	URL    string
	VKey   string // cosignature verifier key, computed from the public key
	cmd    *exec.Cmd
	exited chan struct{}
	stderr *logtest.Buffer
}

// startLiteWitness starts a witness named name on a free loopback port.
func startLiteWitness(tb testing.TB, name string) *liteWitness {
	tb.Helper()
	bin := tools(tb)
	// A short directory: the ssh-agent socket path must fit sun_path.
	dir, err := os.MkdirTemp("", "lw")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	w := &liteWitness{tb: tb, bin: bin, dir: dir, db: filepath.Join(dir, "w.db"), sock: filepath.Join(dir, "s"), name: name}

	key := filepath.Join(dir, "key")
	run(tb, nil, bin["ssh-keygen"], "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", key)
	pub, blob := readSSHPublicKey(tb, key+".pub")
	sum := sha256.Sum256(blob)
	w.fp = "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
	plain, err := note.NewEd25519VerifierKey(name, pub)
	if err != nil {
		tb.Fatal(err)
	}
	if w.VKey, err = fnote.VKeyToCosignatureV1(plain); err != nil {
		tb.Fatal(err)
	}

	agent := exec.Command(bin["ssh-agent"], "-D", "-a", w.sock)
	agent.Stdout, agent.Stderr = new(logtest.Buffer), new(logtest.Buffer)
	if err := agent.Start(); err != nil {
		tb.Fatalf("start ssh-agent: %v", err)
	}
	tb.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	waitFor(tb, "the ssh-agent socket", func() bool { _, err := os.Stat(w.sock); return err == nil })
	run(tb, []string{"SSH_AUTH_SOCK=" + w.sock}, bin["ssh-add"], "-q", key)

	w.addr = proctest.FreeAddr(tb)
	w.URL = "http://" + w.addr
	w.start()
	tb.Cleanup(w.stop)
	if got := w.printedVKey(); got != w.VKey {
		tb.Fatalf("litewitness prints verifier key %q; computed from its public key: %q", got, w.VKey)
	}
	return w
}

func (w *liteWitness) start() {
	tb := w.tb
	tb.Helper()
	w.stderr = new(logtest.Buffer)
	w.cmd = exec.Command(w.bin["litewitness"], "-db", w.db, "-name", w.name, "-key", w.fp,
		"-ssh-agent", w.sock, "-listen", w.addr)
	w.cmd.Stdout, w.cmd.Stderr = w.stderr, w.stderr
	if err := w.cmd.Start(); err != nil {
		tb.Fatalf("start litewitness: %v", err)
	}
	w.exited = make(chan struct{})
	go func() { w.cmd.Wait(); close(w.exited) }()
	waitFor(tb, "litewitness to listen on "+w.addr, func() bool {
		select {
		case <-w.exited:
			tb.Fatalf("litewitness exited: %s", w.stderr.String())
		default:
		}
		c, err := net.Dial("tcp", w.addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// stop interrupts litewitness and waits for it to end.
func (w *liteWitness) stop() {
	if w.cmd == nil {
		return
	}
	w.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-w.exited:
	case <-time.After(15 * time.Second):
		w.cmd.Process.Kill()
		<-w.exited
	}
	w.cmd = nil
}

// wipe restarts litewitness on an empty database, as after losing its
// state, with the log registered again.
func (w *liteWitness) wipe(origin, logKey string) {
	w.tb.Helper()
	w.stop()
	for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
		os.Remove(w.db + suffix)
	}
	w.addLog(origin, logKey)
	w.start()
}

var vkeyRE = regexp.MustCompile(`vkey=(\S+)`)

// printedVKey returns the verifier key litewitness logged at start.
func (w *liteWitness) printedVKey() string {
	w.tb.Helper()
	var got string
	waitFor(w.tb, "litewitness to log its verifier key", func() bool {
		m := vkeyRE.FindStringSubmatch(w.stderr.String())
		if m != nil {
			got = strings.Trim(m[1], `"`)
		}
		return m != nil
	})
	return got
}

// witnessSchema is the schema litewitness v0.6.1 creates in its database
// (torchwood's internal/witness.OpenDB); creating it first lets a log be
// registered before litewitness has ever run.
const witnessSchema = `PRAGMA foreign_keys = ON;
CREATE TABLE IF NOT EXISTS log (
	origin TEXT PRIMARY KEY,
	tree_size INTEGER NOT NULL,
	tree_hash TEXT NOT NULL -- base64-encoded
);
CREATE TABLE IF NOT EXISTS key (
	origin TEXT NOT NULL,
	key TEXT NOT NULL, -- note verifier key
	FOREIGN KEY(origin) REFERENCES log(origin)
);
`

// emptyTreeHash is the base64 root hash of an empty tree, which witnessctl
// add-log records for a new log.
var emptyTreeHash = func() string { h := sha256.Sum256(nil); return base64.StdEncoding.EncodeToString(h[:]) }()

// sqlQuote renders s as an SQLite string literal.
func sqlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// sqlite runs an SQL script on the witness's database with the sqlite3
// command and returns what it printed.
func (w *liteWitness) sqlite(script string) string {
	w.tb.Helper()
	cmd := exec.Command(w.bin["sqlite3"], "-bail", w.db)
	cmd.Stdin = strings.NewReader(script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.tb.Fatalf("sqlite3 %s: %v\n%s", w.db, err, out)
	}
	return string(out)
}

// addLog registers a log's origin and verifier key with the witness, as
// witnessctl add-log and add-key do.
func (w *liteWitness) addLog(origin, logKey string) {
	w.tb.Helper()
	w.sqlite(witnessSchema +
		"INSERT INTO log (origin, tree_size, tree_hash) VALUES (" + sqlQuote(origin) + ", 0, " + sqlQuote(emptyTreeHash) + ");\n" +
		"INSERT INTO key (origin, key) VALUES (" + sqlQuote(origin) + ", " + sqlQuote(logKey) + ");\n")
}

// listLogs returns the known logs as witnessctl list-logs prints them
// (JSON lines: origin, size, root_hash, keys).
func (w *liteWitness) listLogs() string {
	w.tb.Helper()
	return w.sqlite(`SELECT json_object('origin', log.origin, 'size', log.tree_size, 'root_hash', log.tree_hash, 'keys', json_group_array(key.key))
FROM log LEFT JOIN key ON log.origin = key.origin GROUP BY log.origin ORDER BY log.origin;
`)
}

// readSSHPublicKey returns the Ed25519 key of an OpenSSH public key file
// and the key's wire blob (which the SSH fingerprint hashes).
func readSSHPublicKey(tb testing.TB, path string) (ed25519.PublicKey, []byte) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 || f[0] != "ssh-ed25519" {
		tb.Fatalf("%s: not an ssh-ed25519 public key: %q", path, b)
	}
	blob, err := base64.StdEncoding.DecodeString(f[1])
	if err != nil {
		tb.Fatal(err)
	}
	// string "ssh-ed25519", string key (RFC 8709).
	rest := blob
	var parts [][]byte
	for len(rest) >= 4 {
		n := binary.BigEndian.Uint32(rest)
		if uint64(len(rest)-4) < uint64(n) {
			break
		}
		parts = append(parts, rest[4:4+n])
		rest = rest[4+n:]
	}
	if len(parts) != 2 || string(parts[0]) != "ssh-ed25519" || len(parts[1]) != ed25519.PublicKeySize {
		tb.Fatalf("%s: malformed ssh-ed25519 key blob", path)
	}
	return ed25519.PublicKey(parts[1]), blob
}

// run runs a command to completion and returns its output.
func run(tb testing.TB, env []string, name string, args ...string) string {
	tb.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// waitFor polls cond until it holds. The bound is generous: it only keeps
// a broken setup from hanging the test.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
