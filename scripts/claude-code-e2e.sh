#!/usr/bin/env bash
# claude-code-e2e.sh runs the real Claude Code CLI against `kirotray serve
# --demo` (the built-in simulated Kiro upstream): a plain prompt, a tool round
# trip (Bash), a resumed conversation (-c), and a long session that outgrows
# the upstream's input limit, which Claude Code must compact to go on. It
# checks what Claude Code prints and that the proxy refused nothing else,
# cleans up after itself and exits non-zero on any failure.
#
#   scripts/claude-code-e2e.sh
#
# Environment:
#   CLAUDE_BIN            use this claude binary instead of installing one
#   CLAUDE_CODE_VERSION   version to install with npm (default: latest)
#   KEEP=1                keep the work directory (logs, homes) for a look
#
# Needs Go and, unless CLAUDE_BIN is set, npm. Nothing leaves 127.0.0.1 but
# the npm install; Claude Code's own background traffic is turned off.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kirotray-e2e.XXXXXX")
KEY="e2e-$RANDOM$RANDOM"
SERVE_PID=""

cleanup() {
	if [ -n "$SERVE_PID" ]; then
		kill "$SERVE_PID" 2>/dev/null || true
		wait "$SERVE_PID" 2>/dev/null || true
	fi
	if [ -n "${KEEP:-}" ]; then
		echo "work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	if [ -f "$WORK/serve.log" ]; then
		echo "--- kirotray log (last 30 lines)" >&2
		tail -n 30 "$WORK/serve.log" >&2
	fi
	exit 1
}

step() { echo "==> $*"; }

# 1. kirotray
step "building kirotray"
(cd "$ROOT" && go build -o "$WORK/kirotray" .) || fail "go build"

# 2. Claude Code
if [ -n "${CLAUDE_BIN:-}" ]; then
	CLAUDE=$CLAUDE_BIN
else
	step "installing @anthropic-ai/claude-code${CLAUDE_CODE_VERSION:+@$CLAUDE_CODE_VERSION} with npm"
	npm install --prefix "$WORK/npm" --no-audit --no-fund --loglevel=error \
		"@anthropic-ai/claude-code${CLAUDE_CODE_VERSION:+@$CLAUDE_CODE_VERSION}" >"$WORK/npm.log" 2>&1 ||
		{ cat "$WORK/npm.log" >&2; fail "npm install"; }
	CLAUDE=$WORK/npm/node_modules/.bin/claude
fi
[ -x "$CLAUDE" ] || fail "no claude binary at $CLAUDE"
echo "    $("$CLAUDE" --version 2>/dev/null || echo "claude (version unknown)")"

# 3. kirotray serve --demo on a free port, with a HOME of its own
step "starting kirotray serve --demo"
mkdir -p "$WORK/kirotray-home"
HOME="$WORK/kirotray-home" XDG_CONFIG_HOME="$WORK/kirotray-home/.config" \
	"$WORK/kirotray" serve --demo --listen 127.0.0.1:0 --api-key "$KEY" --log-level info >"$WORK/serve.log" 2>&1 &
SERVE_PID=$!
BASE=""
for _ in $(seq 1 100); do
	BASE=$(grep -o 'url=http://127\.0\.0\.1:[0-9]*' "$WORK/serve.log" 2>/dev/null | head -n 1 | cut -d= -f2 || true)
	[ -n "$BASE" ] && break
	kill -0 "$SERVE_PID" 2>/dev/null || fail "kirotray serve exited"
	sleep 0.1
done
[ -n "$BASE" ] || fail "kirotray serve did not start listening"
echo "    $BASE"

# 4. Claude Code in a project of its own, with a HOME of its own
mkdir -p "$WORK/claude-home" "$WORK/project"
MARKER="kirotray-e2e-marker-$RANDOM$RANDOM"
echo "$MARKER" >"$WORK/project/marker.txt"

TIMEOUT=""
command -v timeout >/dev/null && TIMEOUT="timeout 180"

# claude runs Claude Code in $DIR (default: the project), its stdin from
# $STDIN (default: nothing), with a clean environment.
claude() {
	(cd "${DIR:-$WORK/project}" && env -i PATH="$PATH" HOME="$WORK/claude-home" TERM=dumb \
		ANTHROPIC_BASE_URL="$BASE" ANTHROPIC_API_KEY="$KEY" \
		DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1 DISABLE_ERROR_REPORTING=1 \
		CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
		$TIMEOUT "$CLAUDE" "$@" <"${STDIN:-/dev/null}")
}

# check NAME OUTPUT WANT...: every WANT is in OUTPUT, no thinking tag is.
check() {
	local name=$1 out=$2
	shift 2
	for want in "$@"; do
		case $out in
		*"$want"*) ;;
		*) fail "$name: output lacks «$want»; got: $out" ;;
		esac
	done
	case $out in
	*"<thinking"* | *"</thinking"*) fail "$name: a thinking tag leaked into the answer: $out" ;;
	esac
	echo "    ok: $out"
}

step "plain prompt"
out=$(claude -p "say hello to kirotray") || fail "plain prompt: claude exited with $?"
check "plain prompt" "$out" "You said: “say hello to kirotray”"

step "tool round trip (Bash)"
out=$(claude -p 'run `head -n 1 marker.txt`' --allowedTools Bash) || fail "tool round trip: claude exited with $?"
# The marker is only in the file: it can reach the answer only through the
# Bash call Claude Code ran and the tool result it sent back.
check "tool round trip" "$out" "The tool returned one line: \`$MARKER\`"
grep -qs '"name":"Bash"' "$WORK"/claude-home/.claude/projects/*/*.jsonl ||
	fail "tool round trip: Claude Code's transcript has no Bash call"

step "resumed conversation (-c)"
out=$(claude -c -p "what did you find?") || fail "resume: claude exited with $?"
# The demo upstream repeats the previous prompt: only the resumed history has it.
check "resume" "$out" "You said: “what did you find?”" 'before that: “run `head -n 1 marker.txt`”'

if grep -q 'msg="request failed"\|msg="stream failed"' "$WORK/serve.log"; then
	fail "the proxy failed a request"
fi

# Configured by kirotray alone: `kirotray setup claude-code` writes
# ~/.claude/settings.json (env) and ~/.claude.json (onboarding, the key
# approved); Claude Code then runs with no ANTHROPIC_* variable at all.
step "configured by kirotray setup claude-code (no environment variables)"
mkdir -p "$WORK/setup-home" "$WORK/setup-project"
HOME="$WORK/setup-home" XDG_CONFIG_HOME="$WORK/setup-home/.config" KIROTRAY_LISTEN="${BASE#http://}" KIROTRAY_API_KEY="$KEY" \
	"$WORK/kirotray" setup claude-code --yes >"$WORK/setup.log" 2>&1 || { cat "$WORK/setup.log"; fail "kirotray setup claude-code"; }
grep -q '"ANTHROPIC_BASE_URL": "'"$BASE"'"' "$WORK/setup-home/.claude/settings.json" || fail "setup: settings.json lacks the base URL"
out=$(cd "$WORK/setup-project" && env -i PATH="$PATH" HOME="$WORK/setup-home" TERM=dumb \
	DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1 DISABLE_ERROR_REPORTING=1 CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 \
	$TIMEOUT "$CLAUDE" -p "hello from a configured claude" </dev/null) || fail "configured claude exited with $?"
check "configured by setup" "$out" "You said: “hello from a configured claude”"
HOME="$WORK/setup-home" XDG_CONFIG_HOME="$WORK/setup-home/.config" "$WORK/kirotray" setup claude-code --undo >>"$WORK/setup.log" 2>&1 ||
	{ cat "$WORK/setup.log"; fail "kirotray setup claude-code --undo"; }
[ ! -e "$WORK/setup-home/.claude/settings.json" ] || fail "setup --undo left settings.json"

# 5. A long session: turns of ~110 KB each until the conversation is over
# the upstream's input limit (600 KB). kirotray answers "prompt is too long:
# N tokens > M maximum"; Claude Code compacts and the session goes on.
step "long session: prompt too long, then compaction"
mkdir -p "$WORK/long"
chunk="$WORK/chunk.txt"
{
	printf 'Here is part of a build log, keep it in mind:'
	# (yes ends on SIGPIPE, which pipefail would report)
	yes ' go test ./proxy/... ok kirotray/proxy 0.84s FAIL kirotray/app timeout waiting for stream' | head -c 110000 || true
	echo
} >"$chunk"
long() { DIR="$WORK/long" STDIN="$chunk" claude "$@"; }
out=$(long -p) || fail "long session turn 1: claude exited with $?"
turns=1
while ! grep -q 'prompt is too long: ' "$WORK/serve.log"; do
	turns=$((turns + 1))
	[ "$turns" -le 10 ] || fail "long session: 10 turns and the limit was never reached"
	out=$(long -c -p) || fail "long session turn $turns: claude exited with $?"
done
# The turn that hit the limit was answered once Claude Code had compacted
# the session, and the session goes on from the summary.
check "long session, turn $turns (over the limit)" "${out:0:60}" "You said: “Here is part of a build log"
out=$(DIR="$WORK/long" claude -c -p "how long was that log?") || fail "after compaction: claude exited with $?"
check "after compaction" "${out:0:60}" "You said: “how long was that log?”"
if grep 'msg="request failed"\|msg="stream failed"' "$WORK/serve.log" | grep -qv 'prompt is too long: '; then
	fail "the proxy failed a request for another reason"
fi

# 6. Shut down cleanly.
kill "$SERVE_PID"
wait "$SERVE_PID" 2>/dev/null || true
SERVE_PID=""
echo "PASS: Claude Code $("$CLAUDE" --version 2>/dev/null | head -n 1) — plain prompt, Bash round trip, resumed conversation, configured by kirotray setup (and undone), long session compacted after $turns turns"
