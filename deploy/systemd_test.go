package deploy_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cdewatch/cdewatch/internal/config"
	"k8s.io/apimachinery/pkg/api/resource"
)

const (
	systemdUnit   = "systemd/cdewatch.service"
	systemdConfig = "systemd/cdewatch.yaml"
	credentialDir = "/run/credentials/cdewatch.service/"
)

// unitFile is a parsed systemd unit: section → key → values in order.
type unitFile map[string]map[string][]string

// parseUnit reads a unit file (comments, sections, Key=Value; no line
// continuations, which the shipped unit does not use).
func parseUnit(tb testing.TB, file string) unitFile {
	tb.Helper()
	f, err := os.Open(file)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		case strings.HasSuffix(line, `\`):
			tb.Fatalf("%s:%d: line continuation: the test's parser does not handle it", file, n)
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				tb.Fatalf("%s:%d: not Key=Value in a section: %q", file, n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return u
}

// last is the effective value of a key that takes one value.
func (u unitFile) last(section, key string) (string, bool) {
	v := u[section][key]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// TestSystemdUnitHardening checks the unit's sandbox and that the sample
// configuration fits it: secrets come from declared credentials, the data
// directory is the StateDirectory, the ports need no capability.
func TestSystemdUnitHardening(t *testing.T) {
	u := parseUnit(t, systemdUnit)
	want := map[string]string{
		"DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
		"PrivateTmp": "yes", "PrivateDevices": "yes", "CapabilityBoundingSet": "", "AmbientCapabilities": "",
		"StateDirectory": "cdewatch", "RestrictSUIDSGID": "yes", "LockPersonality": "yes", "UMask": "0077",
		"SystemCallArchitectures": "native", "RestrictNamespaces": "yes",
	}
	for k, v := range want {
		if got, ok := u.last("Service", k); !ok || got != v {
			t.Errorf("[Service] %s=%q, want %q", k, got, v)
		}
	}
	stop, _ := u.last("Service", "TimeoutStopSec")
	if d, err := time.ParseDuration(stop + "s"); err != nil || d < 30*time.Second {
		t.Errorf("TimeoutStopSec=%q: give serve at least 30s to stop cleanly", stop)
	}
	exec, _ := u.last("Service", "ExecStart")
	args := strings.Fields(exec)
	flag := func(name string) string {
		if i := slices.Index(args, name); i >= 0 && i+1 < len(args) {
			return args[i+1]
		}
		return ""
	}
	if flag("--data") != "/var/lib/cdewatch" {
		t.Errorf("ExecStart --data %q, want /var/lib/cdewatch (StateDirectory=cdewatch)", flag("--data"))
	}
	if flag("--config") != "/etc/cdewatch/cdewatch.yaml" {
		t.Errorf("ExecStart --config %q, want /etc/cdewatch/cdewatch.yaml", flag("--config"))
	}

	b, err := os.ReadFile(systemdConfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(b)
	if err != nil {
		t.Fatalf("%s: %v", systemdConfig, err)
	}
	creds := map[string]bool{}
	for _, c := range u["Service"]["LoadCredential"] {
		name, _, _ := strings.Cut(c, ":")
		creds[name] = true
	}
	for _, f := range files(cfg) {
		switch {
		case strings.HasPrefix(f.path, credentialDir):
			if !creds[strings.TrimPrefix(f.path, credentialDir)] {
				t.Errorf("%s %s: no LoadCredential=%s: in the unit", f.key, f.path, strings.TrimPrefix(f.path, credentialDir))
			}
		case f.secret:
			t.Errorf("%s %s holds a secret: load it as a credential (%s…)", f.key, f.path, credentialDir)
		}
	}
	if max, _ := u.last("Service", "MemoryMax"); cfg.Index.Enabled {
		// systemd's K, M, G and T are powers of 1024.
		q, err := resource.ParseQuantity(strings.TrimSpace(max) + "i")
		if err != nil {
			t.Errorf("MemoryMax=%q: %v", max, err)
		} else if err := memoryBudget(cfg, q.Value(), "MemoryMax="+max); err != nil {
			t.Errorf("%s: %v", systemdConfig, err)
		}
	}
	ports := []string{cfg.Listen}
	for _, l := range cfg.Syslog {
		ports = append(ports, l.Address)
	}
	for _, addr := range ports {
		p, err := listenPort(addr)
		if err != nil {
			t.Error(err)
		} else if p < 1024 {
			t.Errorf("%s needs CAP_NET_BIND_SERVICE, which the unit does not grant", addr)
		}
	}
}

// TestSystemdUnitVerifies runs `systemd-analyze verify` on the unit and
// `systemd-analyze security` on its sandbox. verify insists that the
// binary exists, so the test verifies a copy whose ExecStart names a stub
// executable; every other line is the shipped one.
func TestSystemdUnitVerifies(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not found: install systemd (Debian package systemd) to verify the unit")
	}
	dir := t.TempDir()
	stub := filepath.Join(dir, "cdewatch")
	if err := os.WriteFile(stub, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit, err := os.ReadFile(systemdUnit)
	if err != nil {
		t.Fatal(err)
	}
	const bin = "ExecStart=/usr/local/bin/cdewatch "
	if !strings.Contains(string(unit), bin) {
		t.Fatalf("%s: no %q line", systemdUnit, bin)
	}
	copyFile := filepath.Join(dir, "cdewatch.service")
	if err := os.WriteFile(copyFile, []byte(strings.Replace(string(unit), bin, "ExecStart="+stub+" ", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	// verify prints warnings (unknown keys, bad values) without failing:
	// any output is a failure.
	out, err := exec.Command(sa, "verify", "--man=no", copyFile).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	// Exposure at most 2.0 of 10 ("OK"); --threshold counts in tenths.
	out, err = exec.Command(sa, "security", "--offline=yes", "--threshold=20", "--no-pager", copyFile).CombinedOutput()
	if err != nil {
		t.Errorf("systemd-analyze security: %v\n%s", err, lastLines(out, 3))
	}
}

func lastLines(b []byte, n int) string {
	l := strings.Split(strings.TrimSpace(string(b)), "\n")
	return fmt.Sprint(strings.Join(l[max(0, len(l)-n):], "\n"))
}
