package archive

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// Location is where an archive lives, as written in a URL:
//
//	s3://BUCKET[/PREFIX][?endpoint=HOST[:PORT]&region=REGION&insecure=1&auth=iam]
//	azblob://ACCOUNT/CONTAINER[/PREFIX][?endpoint=https://HOST[:PORT][/PATH]&auth=entra-id]
//	file:///ABSOLUTE/PATH
//
// An S3 endpoint defaults to s3.amazonaws.com; insecure=1 talks plain HTTP
// (for a server on the loopback interface only, never across a network);
// auth=iam takes the credentials of the AWS role the environment provides
// instead of access keys.
// An Azure Blob endpoint is the account's blob service URL, by default
// https://ACCOUNT.blob.core.windows.net; plain http:// is accepted for a
// loopback address only. auth=entra-id signs in to Azure with Microsoft
// Entra ID (workload identity, managed identity, a service principal in
// the environment, or the Azure CLI's sign-in) instead of the account's
// shared key.
type Location struct {
	Scheme    string // "s3", "azblob" or "file"
	Bucket    string // s3
	Account   string // azblob: storage account
	Container string // azblob
	Prefix    string // s3, azblob: object name prefix, without leading or trailing '/'
	Endpoint  string // s3: host[:port]; azblob: blob service URL, without trailing '/'
	Region    string // s3: optional
	Insecure  bool   // s3: plain HTTP
	Path      string // file: absolute directory
	// Auth is how to authenticate: "" with keys (S3 access keys, the
	// Azure account's shared key), AuthIAM (s3) with the AWS role the
	// environment provides, AuthEntraID (azblob) with Microsoft Entra ID.
	Auth string
}

// The auth= values of archive URLs.
const (
	// AuthEntraID: an azblob:// archive signs in with Microsoft Entra ID.
	AuthEntraID = "entra-id"
	// AuthIAM: an s3:// archive takes the credentials of the AWS role
	// the environment provides (EKS IRSA or Pod Identity, ECS, an EC2
	// instance profile).
	AuthIAM = "iam"
)

// DefaultS3Endpoint is the endpoint of an s3:// URL that names none.
const DefaultS3Endpoint = "s3.amazonaws.com"

// ParseLocation parses an archive URL. Errors say what to write instead.
func ParseLocation(s string) (Location, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Location{}, fmt.Errorf("archive URL %q: %w; want s3://BUCKET/PREFIX?endpoint=HOST:PORT, azblob://ACCOUNT/CONTAINER/PREFIX or file:///PATH", s, err)
	}
	if u.User != nil {
		if u.Scheme == "azblob" {
			return Location{}, fmt.Errorf("archive URL %q carries credentials: pass them through AZURE_STORAGE_ACCOUNT/AZURE_STORAGE_KEY or a credentials file instead", redact(u))
		}
		return Location{}, fmt.Errorf("archive URL %q carries credentials: pass them through AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a credentials file instead", redact(u))
	}
	if u.Fragment != "" || u.Opaque != "" {
		return Location{}, fmt.Errorf("archive URL %q: unexpected %q; want s3://BUCKET/PREFIX, azblob://ACCOUNT/CONTAINER/PREFIX or file:///PATH", s, u.Fragment+u.Opaque)
	}
	switch u.Scheme {
	case "s3":
		return parseS3(u)
	case "azblob":
		return parseAzblob(u)
	case "file":
		if u.Host != "" {
			return Location{}, fmt.Errorf("archive URL %q: a file URL has no host; write file:///absolute/path", s)
		}
		if u.RawQuery != "" {
			return Location{}, fmt.Errorf("archive URL %q: a file URL takes no parameters", s)
		}
		p := u.Path
		if !strings.HasPrefix(p, "/") || p != path.Clean(p) || p == "/" || strings.ContainsAny(p, "\x00\n") {
			return Location{}, fmt.Errorf("archive URL %q: want file:///absolute/path, clean, not the root", s)
		}
		return Location{Scheme: "file", Path: p}, nil
	}
	return Location{}, fmt.Errorf("archive URL %q: scheme %q: want s3:// (S3 with Object Lock), azblob:// (Azure Blob with version-level immutability) or file:// (a local folder)", s, u.Scheme)
}

func parseS3(u *url.URL) (Location, error) {
	loc := Location{Scheme: "s3", Bucket: u.Host, Endpoint: DefaultS3Endpoint}
	if err := checkBucket(loc.Bucket); err != nil {
		return Location{}, fmt.Errorf("archive URL %q: %w", u, err)
	}
	p, err := checkPrefix(u.Path)
	if err != nil {
		return Location{}, fmt.Errorf("archive URL %q: %w", u, err)
	}
	loc.Prefix = p
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Location{}, fmt.Errorf("archive URL %q: parameters: %w", u, err)
	}
	for k, v := range q {
		if len(v) != 1 {
			return Location{}, fmt.Errorf("archive URL %q: parameter %q given %d times", u, k, len(v))
		}
		switch k {
		case "endpoint":
			host, port, err := net.SplitHostPort(v[0])
			if err != nil {
				host, port = v[0], ""
			}
			if host == "" || strings.ContainsAny(host, "/?#@ \\") || (err == nil && port == "") {
				return Location{}, fmt.Errorf("archive URL %q: endpoint %q: want HOST or HOST:PORT", u, v[0])
			}
			loc.Endpoint = v[0]
		case "region":
			if v[0] == "" || strings.ContainsAny(v[0], "/?#@ \\&=") {
				return Location{}, fmt.Errorf("archive URL %q: region %q is not a region name", u, v[0])
			}
			loc.Region = v[0]
		case "insecure":
			switch v[0] {
			case "1", "true":
				loc.Insecure = true
			case "0", "false":
			default:
				return Location{}, fmt.Errorf("archive URL %q: insecure=%q: want 1 or 0", u, v[0])
			}
		case "auth":
			if loc.Auth, err = parseAuth(v[0], "keys", "access keys", AuthIAM, "the AWS role of the environment"); err != nil {
				return Location{}, fmt.Errorf("archive URL %q: %w", u, err)
			}
		default:
			return Location{}, fmt.Errorf("archive URL %q: unknown parameter %q (known: endpoint, region, insecure, auth)", u, k)
		}
	}
	return loc, nil
}

// DefaultAzblobEndpoint is the blob service URL of an azblob:// URL that
// names no endpoint: Azure's public cloud.
func DefaultAzblobEndpoint(account string) string {
	return "https://" + account + ".blob.core.windows.net"
}

func parseAzblob(u *url.URL) (Location, error) {
	loc := Location{Scheme: "azblob", Account: u.Host}
	if err := checkAccount(loc.Account); err != nil {
		return Location{}, fmt.Errorf("archive URL %q: %w", u, err)
	}
	ctr, rest, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if ctr == "" {
		return Location{}, fmt.Errorf("archive URL %q names no container: want azblob://ACCOUNT/CONTAINER[/PREFIX]", u)
	}
	if err := checkContainer(ctr); err != nil {
		return Location{}, fmt.Errorf("archive URL %q: %w", u, err)
	}
	loc.Container = ctr
	p, err := checkPrefix(rest)
	if err != nil {
		return Location{}, fmt.Errorf("archive URL %q: %w", u, err)
	}
	loc.Prefix = p
	loc.Endpoint = DefaultAzblobEndpoint(loc.Account)
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Location{}, fmt.Errorf("archive URL %q: parameters: %w", u, err)
	}
	for k, v := range q {
		if len(v) != 1 {
			return Location{}, fmt.Errorf("archive URL %q: parameter %q given %d times", u, k, len(v))
		}
		switch k {
		case "endpoint":
			if loc.Endpoint, err = parseAzblobEndpoint(v[0]); err != nil {
				return Location{}, fmt.Errorf("archive URL %q: %w", u, err)
			}
		case "auth":
			if loc.Auth, err = parseAuth(v[0], "shared-key", "the account key", AuthEntraID, "Microsoft Entra ID"); err != nil {
				return Location{}, fmt.Errorf("archive URL %q: %w", u, err)
			}
		default:
			return Location{}, fmt.Errorf("archive URL %q: unknown parameter %q (known: endpoint, auth)", u, k)
		}
	}
	return loc, nil
}

// parseAzblobEndpoint checks a blob service URL and returns it in its
// canonical form: scheme://host[:port][/path], no trailing '/'.
func parseAzblobEndpoint(raw string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("endpoint %q: %s; want https://HOST[:PORT][/PATH], the storage account's blob service URL", raw, why)
	}
	e, err := url.Parse(raw)
	if err != nil {
		return bad(err.Error())
	}
	if e.Scheme != "https" && e.Scheme != "http" {
		return bad("not an http(s) URL")
	}
	if e.User != nil || e.RawQuery != "" || e.ForceQuery || e.Fragment != "" || e.Opaque != "" {
		return bad("it carries credentials, parameters or a fragment")
	}
	host, port := e.Hostname(), e.Port()
	if host == "" {
		return bad("no host")
	}
	ip := net.ParseIP(host)
	if ip == nil {
		for i := 0; i < len(host); i++ {
			if c := host[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
				return bad("the host is not a DNS name or IP address")
			}
		}
	}
	canon := host
	if ip != nil && strings.Contains(host, ":") {
		canon = "[" + host + "]"
	}
	if port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != port {
			return bad("the port is not a number from 1 to 65535")
		}
		canon = net.JoinHostPort(host, port)
	}
	if canon != e.Host {
		return bad("the host is not a DNS name or IP address with an optional port")
	}
	if e.Scheme == "http" && !(host == "localhost" || ip != nil && ip.IsLoopback()) {
		return bad("plain http is accepted for a loopback address only: use https")
	}
	p := strings.TrimRight(e.Path, "/")
	for i := 0; i < len(p); i++ {
		if c := p[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~/", c) >= 0) {
			return bad("the path has a character other than letters, digits and -._~/")
		}
	}
	if p != "" && p != path.Clean(p) {
		return bad("the path is not clean")
	}
	return e.Scheme + "://" + canon + p, nil
}

// checkAccount applies the Azure storage account naming rules.
func checkAccount(a string) error {
	if len(a) < 3 || len(a) > 24 {
		return fmt.Errorf("storage account %q: an account name has 3 to 24 characters", a)
	}
	for i := 0; i < len(a); i++ {
		if !isAlnum(a[i]) {
			return fmt.Errorf("storage account %q: an account name has lowercase letters and digits only", a)
		}
	}
	return nil
}

// checkContainer applies the Azure blob container naming rules.
func checkContainer(c string) error {
	if len(c) < 3 || len(c) > 63 {
		return fmt.Errorf("container %q: a container name has 3 to 63 characters", c)
	}
	for i := 0; i < len(c); i++ {
		if !isAlnum(c[i]) && c[i] != '-' {
			return fmt.Errorf("container %q: a container name has lowercase letters, digits and '-' only", c)
		}
	}
	if !isAlnum(c[0]) || !isAlnum(c[len(c)-1]) || strings.Contains(c, "--") {
		return fmt.Errorf("container %q: a container name starts and ends with a letter or digit and has no '--'", c)
	}
	return nil
}

// checkPrefix turns a URL path into an object name prefix: no leading or
// trailing '/', no empty, '.' or '..' part, no control character.
func checkPrefix(raw string) (string, error) {
	p := strings.Trim(raw, "/")
	if p == "" {
		return "", nil
	}
	for _, part := range strings.Split(p, "/") {
		if part == "" || part == "." || part == ".." {
			return "", fmt.Errorf("prefix %q has an empty, '.' or '..' part", p)
		}
	}
	if strings.ContainsAny(p, "\x00\n\r\\") {
		return "", fmt.Errorf("prefix %q has a control character or backslash", p)
	}
	return p, nil
}

// checkBucket applies the S3 bucket naming rules that matter for a URL.
func checkBucket(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return fmt.Errorf("bucket %q: a bucket name has 3 to 63 characters", b)
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return fmt.Errorf("bucket %q: a bucket name has lowercase letters, digits, '-' and '.' only", b)
		}
	}
	if !isAlnum(b[0]) || !isAlnum(b[len(b)-1]) || strings.Contains(b, "..") {
		return fmt.Errorf("bucket %q: a bucket name starts and ends with a letter or digit and has no '..'", b)
	}
	return nil
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func redact(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// String returns the canonical URL of the location; ParseLocation reads it
// back to the same Location.
func (l Location) String() string {
	switch l.Scheme {
	case "s3":
		u := url.URL{Scheme: "s3", Host: l.Bucket, Path: "/" + l.Prefix}
		if l.Prefix == "" {
			u.Path = ""
		}
		q := url.Values{}
		if l.Endpoint != DefaultS3Endpoint {
			q.Set("endpoint", l.Endpoint)
		}
		if l.Region != "" {
			q.Set("region", l.Region)
		}
		if l.Insecure {
			q.Set("insecure", "1")
		}
		if l.Auth != "" {
			q.Set("auth", l.Auth)
		}
		u.RawQuery = q.Encode()
		return u.String()
	case "azblob":
		u := url.URL{Scheme: "azblob", Host: l.Account, Path: "/" + l.Container}
		if l.Prefix != "" {
			u.Path += "/" + l.Prefix
		}
		var q []string
		if l.Endpoint != DefaultAzblobEndpoint(l.Account) {
			// Unescaped when it can be, for readable messages.
			e := url.Values{"endpoint": {l.Endpoint}}.Encode()
			if strings.Trim(l.Endpoint, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~:/[]") == "" {
				e = "endpoint=" + l.Endpoint
			}
			q = append(q, e)
		}
		if l.Auth != "" {
			q = append(q, "auth="+l.Auth)
		}
		u.RawQuery = strings.Join(q, "&")
		return u.String()
	case "file":
		return (&url.URL{Scheme: "file", Path: l.Path}).String()
	}
	return ""
}

// parseAuth reads an auth= value: keys (the default, "" in Location.Auth;
// keysDesc says what they are) or keyless, a sign-in without stored keys
// (keylessDesc).
func parseAuth(v, keys, keysDesc, keyless, keylessDesc string) (string, error) {
	switch v {
	case keys:
		return "", nil
	case keyless:
		return keyless, nil
	}
	return "", fmt.Errorf("auth %q: want %s (the default: %s) or %s (%s)", v, keys, keysDesc, keyless, keylessDesc)
}
