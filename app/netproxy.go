package app

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/kirotray/kirotray/proxy/kiro"
)

// Outbound proxies: every call to Kiro and AWS (refresh, sign-in, quota, the
// chat itself) can go through an HTTP, HTTPS or SOCKS5 proxy, set for the
// whole pool or per account. With no setting the environment's proxy
// (HTTPS_PROXY, HTTP_PROXY, NO_PROXY) is used, as Go does by default.

// ProxyDirect is the setting for "no proxy, whatever the environment says".
const ProxyDirect = "direct"

// proxyFunc turns a proxy setting into an http.Transport's Proxy function:
// "" is the environment's, "direct" none, otherwise a URL with scheme http,
// https, socks5 or socks5h.
func proxyFunc(p string) (func(*http.Request) (*url.URL, error), error) {
	switch strings.ToLower(strings.TrimSpace(p)) {
	case "":
		return http.ProxyFromEnvironment, nil
	case ProxyDirect, "none":
		return nil, nil
	}
	u, err := ParseProxyURL(p)
	if err != nil {
		return nil, err
	}
	return http.ProxyURL(u), nil
}

// ParseProxyURL checks a proxy URL: http, https, socks5 or socks5h, with a host.
func ParseProxyURL(p string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(p))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("proxy %q: want a URL like http://host:port or socks5://host:port", MaskProxy(p))
	}
	switch u.Scheme {
	case "http", "https", "socks5", "socks5h":
		return u, nil
	}
	return nil, fmt.Errorf("proxy %q: scheme %q is not supported (use http, https, socks5 or socks5h)", MaskProxy(p), u.Scheme)
}

// MaskProxy shows an outbound proxy URL with its password masked, for
// screens and logs.
func MaskProxy(p string) string {
	if u, err := url.Parse(p); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
			return u.String()
		}
	}
	return p
}

// proxyTransport is http.DefaultTransport's settings with the proxy set.
func proxyTransport(p string) (*http.Transport, error) {
	f, err := proxyFunc(p)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = f
	return tr, nil
}

// upstreamTransport is the transport of calls to Kiro's data plane:
// kiro.Client's own settings with the proxy set.
func upstreamTransport(p string) (*http.Transport, error) {
	tr, err := proxyTransport(p)
	if err != nil {
		return nil, err
	}
	tr.ResponseHeaderTimeout = kiro.DefaultResponseHeaderTimeout
	tr.WriteBufferSize = 32 << 10
	tr.MaxIdleConnsPerHost = 64
	return tr, nil
}

// UpstreamTransport returns a RoundTripper for kiro.Client that sends each
// call through the proxy of the account making it (or the pool's). It tells
// accounts apart by the machine id in the Kiro user agent, which is unique
// per account; a call it cannot attribute uses the pool's setting.
func (as *Accounts) UpstreamTransport() http.RoundTripper {
	return &routingTransport{pool: as}
}

type routingTransport struct {
	pool *Accounts
	mu   sync.Mutex
	byP  map[string]*http.Transport // proxy setting → transport
}

func (t *routingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	p := *t.pool.proxy.Load()
	if mid := machineIDOf(r.Header.Get("X-Amz-User-Agent")); mid != "" {
		for _, a := range t.pool.accounts() {
			a.mu.Lock()
			match, ap := a.cred.MachineID == mid, a.cred.Proxy
			a.mu.Unlock()
			if match {
				if ap != "" {
					p = ap
				}
				break
			}
		}
	}
	tr, err := t.transport(p)
	if err != nil {
		return nil, err
	}
	return tr.RoundTrip(r)
}

func (t *routingTransport) transport(p string) (*http.Transport, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr, ok := t.byP[p]; ok {
		return tr, nil
	}
	tr, err := upstreamTransport(p)
	if err != nil {
		return nil, err
	}
	if t.byP == nil {
		t.byP = map[string]*http.Transport{}
	}
	t.byP[p] = tr
	return tr, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach every transport.
func (t *routingTransport) CloseIdleConnections() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tr := range t.byP {
		tr.CloseIdleConnections()
	}
}

// machineIDOf finds the 64-hex machine id at the end of "… KiroIDE-<version>-<machineId>".
func machineIDOf(ua string) string {
	i := strings.LastIndex(ua, "KiroIDE-")
	if i < 0 {
		return ""
	}
	rest := ua[i:]
	if sp := strings.IndexByte(rest, ' '); sp >= 0 {
		rest = rest[:sp]
	}
	j := strings.LastIndexByte(rest, '-')
	if j < 0 || len(rest)-j-1 != 64 {
		return ""
	}
	return rest[j+1:]
}

// OutboundClient is the HTTP client for sign-in and key checks through
// the store's outbound proxy; nil means the environment's
// (http.DefaultTransport), also when the store cannot be read.
func (s *Store) OutboundClient() (*http.Client, error) {
	d, err := s.Load()
	if err != nil || d.Settings.Proxy == "" {
		return nil, nil
	}
	return OutboundClient(d.Settings.Proxy, 30*time.Second)
}

// OutboundClient is an HTTP client for calls to Kiro and AWS through a
// proxy setting (see Settings.Proxy), bounded by timeout (0: none).
func OutboundClient(proxySetting string, timeout time.Duration) (*http.Client, error) {
	tr, err := proxyTransport(proxySetting)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: tr, Timeout: timeout}, nil
}
