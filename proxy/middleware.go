package proxy

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// requireKey refuses requests that do not carry the API key, in any of the
// places clients put it: x-api-key (Anthropic SDKs, Claude Code),
// Authorization: Bearer (OpenAI SDKs, ANTHROPIC_AUTH_TOKEN), x-goog-api-key
// and ?key= (Gemini clients). Keys are compared in constant time.
func (s *Server) requireKey(next http.Handler) http.Handler {
	want := []byte(s.cfg.APIKey.Reveal())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := presentedKey(r)
		if got == "" {
			writeError(w, r, http.StatusUnauthorized, "authentication_error",
				"missing API key: send the kirotray key as x-api-key or Authorization: Bearer")
			return
		}
		if subtle.ConstantTimeCompare([]byte(got), want) != 1 {
			writeError(w, r, http.StatusUnauthorized, "authentication_error", "invalid API key")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func presentedKey(r *http.Request) string {
	if k := r.Header.Get("X-Api-Key"); k != "" {
		return k
	}
	if a := r.Header.Get("Authorization"); a != "" {
		if scheme, tok, ok := strings.Cut(a, " "); ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
		return ""
	}
	if k := r.Header.Get("X-Goog-Api-Key"); k != "" {
		return k
	}
	return r.URL.Query().Get("key")
}

// checkHostOrigin defends against DNS rebinding (a page on evil.example whose
// name resolves to 127.0.0.1: its requests carry Host: evil.example) and
// against cross-site requests from a browser (Origin of another site). Both
// apply to every route, /healthz and /ws included.
func (s *Server) checkHostOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.cfg.AllowRemote && !isLoopbackHost(r.Host) {
			writeError(w, r, http.StatusForbidden, "permission_error",
				fmt.Sprintf("host %q is not a loopback name", r.Host))
			return
		}
		if origin := r.Header.Get("Origin"); origin != "" && !isLoopbackOrigin(origin) {
			writeError(w, r, http.StatusForbidden, "permission_error", "cross-site requests are not allowed")
			return
		}
		if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
			writeError(w, r, http.StatusForbidden, "permission_error", "cross-site requests are not allowed")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isLoopbackHost reports whether a Host header (host or host:port) names this
// machine's loopback interface.
func isLoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

func isLoopbackOrigin(origin string) bool {
	if origin == "null" { // sandboxed iframes, file:// pages: not a site we trust
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	return isLoopbackHost(u.Host)
}

// limitBody refuses bodies over the limit: at once when Content-Length says
// so, else while reading (the handler then sees *http.MaxBytesError).
func (s *Server) limitBody(next http.Handler) http.Handler {
	limit := s.cfg.MaxBodyBytes
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > limit {
			writeError(w, r, http.StatusRequestEntityTooLarge, "request_too_large",
				fmt.Sprintf("request body of %d bytes is over the limit of %d bytes", r.ContentLength, limit))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// recoverPanics turns a panic outside the router into a 500 instead of a
// dropped connection; the router has its own PanicHandler for handlers.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler { //nolint:errorlint // sentinel value passed to panic
					panic(v)
				}
				s.log.Error("panic", "path", r.URL.Path, "panic", fmt.Sprint(v))
				writeError(w, r, http.StatusInternalServerError, "api_error", "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// checkListenAddr refuses a non-loopback listen address unless allowed.
func checkListenAddr(addr string, allowRemote bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("proxy: listen address %q: %w", addr, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("proxy: listen address %q: bad port", addr)
	}
	if allowRemote {
		return nil
	}
	if host == "" || !isLoopbackHost(host) {
		return fmt.Errorf("proxy: listen address %q is not a loopback address; pass --allow-remote to listen on other interfaces", addr)
	}
	return nil
}

// openAIPath reports whether a path belongs to an OpenAI-style API, whose
// clients expect OpenAI's error shape.
func openAIPath(p string) bool {
	return strings.HasPrefix(p, "/v1/chat/") || strings.HasPrefix(p, "/v1/responses") || p == "/v1/completions"
}

// writeError answers in the error format of the API the client called.
func writeError(w http.ResponseWriter, r *http.Request, status int, kind, msg string) {
	if openAIPath(r.URL.Path) {
		writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": kind, "code": nil}})
		return
	}
	writeJSON(w, status, map[string]any{"type": "error", "error": map[string]string{"type": kind, "message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
