package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/kirotray/kirotray/app"
)

const setupUsage = `Usage: kirotray setup claude-code|codex [--yes] [--undo] [--listen ADDR]

Points Claude Code (~/.claude/settings.json, ~/.claude.json) or Codex CLI
(~/.codex/config.toml) at kirotray's proxy, as the window's "Configure …"
buttons do: it shows what will change, asks, keeps the files' old content,
and --undo puts it back.
`

// setup configures a coding CLI from the command line.
func setup(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, setupUsage); fs.PrintDefaults() }
	yes := fs.Bool("yes", false, "apply without asking")
	undo := fs.Bool("undo", false, "restore the files as they were before the last setup")
	listen := fs.String("listen", os.Getenv("KIROTRAY_LISTEN"), "the proxy's `address` (default: the tray app's saved one, else 127.0.0.1:8317)")
	if len(args) == 0 {
		fs.Usage()
		return errors.New("setup: name the client: claude-code or codex")
	}
	client, rest := args[0], args[1:]
	if err := fs.Parse(rest); err != nil {
		return err
	}
	switch client {
	case app.ClientClaudeCode, app.ClientCodex:
	default:
		return fmt.Errorf("setup: %q is not a client kirotray configures (claude-code or codex)", client)
	}
	core := app.New(app.Config{Listen: *listen, APIKey: os.Getenv("KIROTRAY_API_KEY"), Version: version,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	defer core.Close()
	if *undo {
		if !core.CanUndoClientSetup(client) {
			return fmt.Errorf("setup: nothing to undo for %s", client)
		}
		if err := core.UndoClientSetup(client); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Restored %s's files as they were before kirotray's setup.\n", client)
		return nil
	}
	plan, err := core.PlanClientSetup(client)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, plan)
	if !*yes {
		f, ok := stdin.(*os.File)
		if !ok || !isTerminal(f) {
			return errors.New("setup: add --yes to apply without a terminal to answer in")
		}
		fmt.Fprint(stdout, "Apply? [y/N] ")
		answer, _ := bufio.NewReader(stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			fmt.Fprintln(stdout, "Nothing changed.")
			return nil
		}
	}
	msg, err := core.ConfigureClient(client)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\nUndo with: kirotray setup %s --undo\n", msg, client)
	return nil
}
