package archive

import (
	"fmt"
	"net"
	"net/url"
	"path"
	"strings"
)

// Location is where an archive lives, as written in a URL:
//
//	s3://BUCKET[/PREFIX][?endpoint=HOST[:PORT]&region=REGION&insecure=1]
//	file:///ABSOLUTE/PATH
//
// An S3 endpoint defaults to s3.amazonaws.com; insecure=1 talks plain HTTP
// (for a server on the loopback interface only, never across a network).
type Location struct {
	Scheme   string // "s3" or "file"
	Bucket   string // s3
	Prefix   string // s3: object name prefix, without leading or trailing '/'
	Endpoint string // s3: host[:port]
	Region   string // s3: optional
	Insecure bool   // s3: plain HTTP
	Path     string // file: absolute directory
}

// DefaultS3Endpoint is the endpoint of an s3:// URL that names none.
const DefaultS3Endpoint = "s3.amazonaws.com"

// ParseLocation parses an archive URL. Errors say what to write instead.
func ParseLocation(s string) (Location, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Location{}, fmt.Errorf("archive URL %q: %w; want s3://BUCKET/PREFIX?endpoint=HOST:PORT or file:///PATH", s, err)
	}
	if u.User != nil {
		return Location{}, fmt.Errorf("archive URL %q carries credentials: pass them through AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or a credentials file instead", redact(u))
	}
	if u.Fragment != "" || u.Opaque != "" {
		return Location{}, fmt.Errorf("archive URL %q: unexpected %q; want s3://BUCKET/PREFIX or file:///PATH", s, u.Fragment+u.Opaque)
	}
	switch u.Scheme {
	case "s3":
		return parseS3(u)
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
	return Location{}, fmt.Errorf("archive URL %q: scheme %q: want s3:// (S3 with Object Lock) or file:// (a local folder)", s, u.Scheme)
}

func parseS3(u *url.URL) (Location, error) {
	loc := Location{Scheme: "s3", Bucket: u.Host, Endpoint: DefaultS3Endpoint}
	if err := checkBucket(loc.Bucket); err != nil {
		return Location{}, fmt.Errorf("archive URL %q: %w", u, err)
	}
	p := strings.Trim(u.Path, "/")
	if p != "" {
		for _, part := range strings.Split(p, "/") {
			if part == "" || part == "." || part == ".." {
				return Location{}, fmt.Errorf("archive URL %q: prefix %q has an empty, '.' or '..' part", u, p)
			}
		}
		if strings.ContainsAny(p, "\x00\n\r\\") {
			return Location{}, fmt.Errorf("archive URL %q: prefix %q has a control character or backslash", u, p)
		}
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
		default:
			return Location{}, fmt.Errorf("archive URL %q: unknown parameter %q (known: endpoint, region, insecure)", u, k)
		}
	}
	return loc, nil
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
		u.RawQuery = q.Encode()
		return u.String()
	case "file":
		return (&url.URL{Scheme: "file", Path: l.Path}).String()
	}
	return ""
}
