// Command kirotray lets Claude Code, Codex CLI and any Anthropic or OpenAI SDK
// use the Claude models of a Kiro account through a proxy on 127.0.0.1.
// main parses the command line and wires app and proxy together; nothing else.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/kirotray/kirotray/app"
	"github.com/kirotray/kirotray/keychain"
	"github.com/kirotray/kirotray/proxy/redact"
	_ "github.com/kirotray/kirotray/ui/earlyenv" // before Fyne initializes: see its doc
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

const usage = `kirotray — use the Claude models of your Kiro account from Claude Code,
Codex CLI and any Anthropic or OpenAI SDK, through a proxy on 127.0.0.1.

Usage:
  kirotray                 start the tray app (with no display: the headless proxy, as "serve")
  kirotray serve [flags]   run the proxy headless; Ctrl+C stops it
  kirotray serve --demo    run it against the built-in simulated Kiro upstream
  kirotray key             print the proxy's API key (created on first use)
  kirotray env             print shell exports for Claude Code and OpenAI clients
  kirotray accounts …      your Kiro accounts: list, login, import-ide, import, remove, …
                           (run "kirotray accounts help")
  kirotray setup CLIENT    point claude-code or codex at the proxy (--undo reverts it)
  kirotray version         print the version
  kirotray demo-upstream   run the simulated Kiro backend alone, to try sign-in offline

Run "kirotray serve -h" for the flags of serve.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmd := defaultCommand(args)
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(args, stderr)
	case "gui":
		err = gui(stderr)
	case "version":
		fmt.Fprintf(stdout, "kirotray %s\n", version)
	case "key":
		err = printKey(stdout)
	case "env":
		err = printEnv(args, stdout)
	case "accounts":
		err = accountsCommand(args, stdout, stderr)
	case "setup":
		err = setup(args, os.Stdin, stdout, stderr)
	case "demo-upstream":
		err = demoUpstreamCommand(args, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "kirotray: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "kirotray: %v\n", err)
		return 1
	}
	return 0
}

func serve(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg app.ServeConfig
	fs.StringVar(&cfg.Listen, "listen", envOr("KIROTRAY_LISTEN", "127.0.0.1:8317"), "listen `address`; a non-loopback address needs --allow-remote (env KIROTRAY_LISTEN)")
	fs.BoolVar(&cfg.AllowRemote, "allow-remote", false, "allow listening on a non-loopback address")
	fs.StringVar(&cfg.APIKey, "api-key", os.Getenv("KIROTRAY_API_KEY"), "the `key` clients must send (env KIROTRAY_API_KEY; default: generated once and stored in the keychain)")
	fs.StringVar(&cfg.Credentials, "credentials", os.Getenv("KIROTRAY_CREDENTIALS"), "JSON `file` of Kiro accounts; rotated refresh tokens are written back (env KIROTRAY_CREDENTIALS)")
	fs.StringVar(&cfg.KiroAPI, "kiro-api", envOr("KIROTRAY_KIRO_API", app.DefaultKiroAPI), "Kiro API base `URL` (env KIROTRAY_KIRO_API)")
	fs.StringVar(&cfg.KiroAuth, "kiro-auth", envOr("KIROTRAY_KIRO_AUTH", app.DefaultKiroAuth), "Kiro social sign-in base `URL` (env KIROTRAY_KIRO_AUTH)")
	fs.StringVar(&cfg.OIDC, "oidc", os.Getenv("KIROTRAY_OIDC"), "AWS SSO-OIDC base `URL` for Builder ID / IAM Identity Center (env KIROTRAY_OIDC; default https://oidc.{region}.amazonaws.com)")
	fs.BoolVar(&cfg.Demo, "demo", envBool("KIROTRAY_DEMO"), "use the built-in simulated Kiro upstream; no account needed (env KIROTRAY_DEMO=1)")
	logLevel := fs.String("log-level", envOr("KIROTRAY_LOG_LEVEL", "info"), "log `level`: debug, info, warn or error (env KIROTRAY_LOG_LEVEL)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("serve: --log-level: %w", err)
	}
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level, ReplaceAttr: redact.ReplaceAttr}))
	cfg.Version = version
	cfg.Banner = stderr

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return app.Serve(ctx, cfg)
}

func printKey(stdout io.Writer) error {
	if k := os.Getenv("KIROTRAY_API_KEY"); k != "" {
		fmt.Fprintln(stdout, k)
		return nil
	}
	k, err := storedKey()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, k.Reveal()) // the one place the key is shown, on request
	return nil
}

func printEnv(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("env", flag.ContinueOnError)
	listen := fs.String("listen", envOr("KIROTRAY_LISTEN", "127.0.0.1:8317"), "the proxy's listen `address`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	k := redact.Secret(os.Getenv("KIROTRAY_API_KEY"))
	if k.IsZero() {
		var err error
		if k, err = storedKey(); err != nil {
			return err
		}
	}
	base := "http://" + *listen
	fmt.Fprintf(stdout, "export ANTHROPIC_BASE_URL=%s\n", base)
	fmt.Fprintf(stdout, "export ANTHROPIC_API_KEY=%s\n", k.Reveal())
	fmt.Fprintf(stdout, "export OPENAI_BASE_URL=%s/v1\n", base)
	fmt.Fprintf(stdout, "export OPENAI_API_KEY=%s\n", k.Reveal())
	return nil
}

func storedKey() (redact.Secret, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	k, _, err := app.LoadOrCreateAPIKey(keychain.NewOS(), filepath.Join(dir, "kirotray", "api-key"), nil)
	return k, err
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envBool(name string) bool {
	switch strings.ToLower(os.Getenv(name)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}
