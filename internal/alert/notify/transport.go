package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/cdewatch/cdewatch/internal/tlsutil"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TLSOptions configure the TLS client side of a notifier. Certificates are
// always verified; TLS 1.2 is the minimum.
type TLSOptions struct {
	// CAFile (PEM) replaces the system roots: use it for a receiver with a
	// certificate from a private CA.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile (PEM) are a client certificate, for receivers
	// that require mutual TLS. Both or neither.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName overrides the name the server certificate is checked
	// against (default: the host of the URL or address).
	ServerName string `yaml:"server_name"`
}

// Validate checks the options without reading the files.
func (t TLSOptions) Validate() error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return errors.New("tls: cert_file and key_file go together")
	}
	return nil
}

// Config builds the tls.Config, reading the files. serverName is used when
// t.ServerName is empty.
func (t TLSOptions) Config(serverName string) (*tls.Config, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if t.ServerName != "" {
		c.ServerName = t.ServerName
	}
	if t.CAFile != "" {
		pool, err := tlsutil.AppendCertsFile(nil, t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls: read ca_file: %w", err)
		}
		c.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls: load client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// DefaultTimeout bounds one delivery attempt when a notifier's Timeout is
// zero.
const DefaultTimeout = 10 * time.Second

// maxErrorBody is how much of an error response is quoted in the error.
const maxErrorBody = 512

// poster POSTs JSON bodies to one URL; it is shared by the HTTP notifiers.
type poster struct {
	url     string
	client  *http.Client
	timeout time.Duration
	headers http.Header
}

// newPoster checks rawURL (http or https, with a host) and builds the HTTP
// client: the proxy from the environment (HTTPS_PROXY, NO_PROXY), no
// redirects (a receiver URL that redirects is misconfigured), the TLS
// options applied.
func newPoster(rawURL string, timeout time.Duration, tlsOpts TLSOptions, headers map[string]string) (*poster, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("url %q: want http:// or https:// and a host", redactURL(rawURL))
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tc, err := tlsOpts.Config("") // net/http checks the URL's host
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	h := http.Header{}
	for k, v := range headers {
		h.Set(k, v)
	}
	return &poster{
		url: rawURL,
		client: &http.Client{
			Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error {
				return http.ErrUseLastResponse
			},
		},
		timeout: timeout,
		headers: h,
	}, nil
}

// post sends body and classifies the outcome: 2xx is nil; 408, 429 and 5xx
// are transient (with Retry-After when given); 3xx and other 4xx are
// permanent; transport errors are transient.
func (p *poster) post(ctx context.Context, body []byte, headers http.Header) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url, bytes.NewReader(body))
	if err != nil {
		return Permanent(fmt.Errorf("build request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "cdewatch")
	for k, v := range p.headers {
		req.Header[k] = v
	}
	for k, v := range headers {
		req.Header[k] = v
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s: %w", redactURL(p.url), scrubURLError(err))
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	err = fmt.Errorf("POST %s: %s: %s", redactURL(p.url), resp.Status, strings.TrimSpace(OneLine(string(msg))))
	switch {
	case resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode >= 500:
		if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return RetryAfter(err, d)
		}
		return err
	default:
		return Permanent(err)
	}
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > 86400 {
			n = 86400
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return min(d, 24*time.Hour), true
	}
	return 0, false
}

// redactURL keeps scheme, host and the first path element: incoming
// webhook URLs carry their secret in the path (Slack, Teams) or query.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid url)"
	}
	p := strings.TrimPrefix(u.EscapedPath(), "/")
	if i := strings.IndexByte(p, '/'); i >= 0 {
		p = p[:i] + "/…"
	}
	s := u.Scheme + "://" + u.Host + "/" + p
	if u.RawQuery != "" {
		s += "?…"
	}
	return s
}

// scrubURLError removes the full URL that net/http puts in its errors.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
