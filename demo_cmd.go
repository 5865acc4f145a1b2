package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kirotray/kirotray/proxy/kirofake"
	"github.com/kirotray/kirotray/proxy/redact"
)

// `kirotray demo-upstream` runs the simulated Kiro backend (proxy/kirofake)
// alone on a loopback port, so that a tester can try everything a new user
// does, sign-in included, on a machine with no internet: the tray app (or
// `kirotray accounts login`) is pointed at it with the KIROTRAY_* endpoint
// variables it prints, and its sign-in pages open in the real browser.

const defaultDemoUpstream = "127.0.0.1:8318"

const demoUpstreamUsage = `Usage: kirotray demo-upstream [--listen 127.0.0.1:PORT] [--env]

Runs the simulated Kiro backend alone on 127.0.0.1 (default port 8318), to
try the whole product offline: sign-in (AWS Builder ID, Google, GitHub, with
pages to approve in the browser), quota, token refresh and chat (simulated
replies). Point kirotray at it with the exports it prints, in another
terminal, then run "kirotray" and use Sign in…. Its accounts live in memory:
they are gone when it stops. Ctrl+C stops it.

Flags:
`

func demoUpstreamCommand(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return demoUpstream(ctx, args, stdout, stderr, nil)
}

// demoUpstream parses the flags and serves until ctx ends. ready, if set,
// is called with the base URL once the listener is open (tests).
func demoUpstream(ctx context.Context, args []string, stdout, stderr io.Writer, ready func(base string)) error {
	fs := flag.NewFlagSet("demo-upstream", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), demoUpstreamUsage)
		fs.PrintDefaults()
	}
	listen := fs.String("listen", defaultDemoUpstream, "loopback `address` to listen on (127.0.0.1, ::1 or localhost, and a port)")
	envOnly := fs.Bool("env", false, "print the exports for --listen and exit without serving (for eval in another shell)")
	delay := fs.Duration("chunk-delay", 15*time.Millisecond, "pause between streamed reply frames, so streaming is visible")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("demo-upstream: unexpected argument %q", fs.Arg(0))
	}
	if err := checkLoopback(*listen); err != nil {
		return fmt.Errorf("demo-upstream: %w", err)
	}
	if *envOnly {
		printDemoEnv(stdout, "http://"+*listen)
		return nil
	}

	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{ReplaceAttr: redact.ReplaceAttr}))
	fake := kirofake.New(kirofake.Config{Logger: log, ChunkDelay: max(*delay, 0), PortalPage: true, PriorUsage: true})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("demo-upstream: %w\nanother program (or another demo-upstream) uses that port: stop it, or pass --listen 127.0.0.1:PORT", err)
		}
		return fmt.Errorf("demo-upstream: %w", err)
	}
	if a, ok := ln.Addr().(*net.TCPAddr); !ok || !a.IP.IsLoopback() {
		ln.Close() // "localhost" resolved to something else
		return fmt.Errorf("demo-upstream: %s is not a loopback address", ln.Addr())
	}
	base := "http://" + ln.Addr().String()
	hs := &http.Server{Handler: loopbackOnly(accessLog(fake, log)), ReadHeaderTimeout: 10 * time.Second}

	fmt.Fprintf(stdout, "# kirotray demo upstream: a simulated Kiro on %s (no internet, no real account).\n", base)
	fmt.Fprint(stdout, "# Point kirotray at it in another terminal:\n")
	printDemoEnv(stdout, base)
	fmt.Fprint(stdout, "# then run \"kirotray\" and use Sign in… (approve on the page that opens in the browser),\n")
	fmt.Fprint(stdout, "# or \"kirotray accounts login builder-id|google|github\". Ctrl+C stops this; its accounts are kept in memory only.\n")

	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	if ready != nil {
		ready(base)
	}
	select {
	case err := <-served:
		return fmt.Errorf("demo-upstream: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		_ = hs.Close() // a stream still running: cut it
	}
	<-served
	log.Info("demo upstream stopped")
	return nil
}

// printDemoEnv prints the exports that point kirotray at the demo upstream.
func printDemoEnv(w io.Writer, base string) {
	fmt.Fprintf(w, "export KIROTRAY_KIRO_API=%[1]s KIROTRAY_KIRO_AUTH=%[1]s KIROTRAY_OIDC=%[1]s KIROTRAY_PORTAL=%[1]s\n", base)
}

// checkLoopback accepts host:port where host is a loopback IP or
// "localhost": the demo upstream signs anyone in, so it must not be
// reachable from other machines.
func checkLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--listen %q: want 127.0.0.1:PORT (%v)", addr, err)
	}
	if port == "" {
		return fmt.Errorf("--listen %q: no port", addr)
	}
	if !isLoopbackHost(host) {
		return fmt.Errorf("--listen %q: the demo upstream only listens on loopback (127.0.0.1, ::1 or localhost)", addr)
	}
	return nil
}

func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackOnly refuses requests whose Host is not a loopback name, so a
// web page cannot reach the demo upstream through a DNS name that points
// at 127.0.0.1 (DNS rebinding).
func loopbackOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			host = hh
		}
		if !isLoopbackHost(host) {
			http.Error(w, "the demo upstream answers only requests for 127.0.0.1 or localhost", http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// accessLog logs one line per call: method, path (never the query) and
// status. Tokens travel in headers and bodies, which are not logged.
func accessLog(h http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		log.Info("served", "method", r.Method, "path", r.URL.Path, "status", sw.status,
			"duration", time.Since(start).Round(time.Millisecond))
	})
}

// statusWriter records the status; Unwrap lets http.ResponseController
// reach Flush and Hijack (the chat stream needs them).
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
