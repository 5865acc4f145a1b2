#!/usr/bin/env bash
# Smoke test of the real tray app under Xvfb + a D-Bus session (no tray host,
# so the window opens): the window appears, the proxy answers /healthz and
# serves a demo request, a screenshot is taken, SIGTERM quits with exit 0.
#
#   scripts/smoke-gui.sh [BINARY]      default: go build . into a temp dir
#   SCREENSHOT=out.png scripts/smoke-gui.sh   where the window screenshot goes
#
# Needs (Debian/Ubuntu): xvfb xauth x11-utils dbus imagemagick curl, plus the
# build packages of docs (gcc pkg-config libgl1-mesa-dev libx11-dev
# libxcursor-dev libxrandr-dev libxinerama-dev libxi-dev libxxf86vm-dev).
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
BIN=${1:-}
if [ -z "$BIN" ]; then
  go build -o "$WORK/kirotray" .
  BIN="$WORK/kirotray"
fi
BIN=$(realpath "$BIN")
SHOT=${SCREENSHOT:-$WORK/screenshot.png}
SHOT=$(realpath -m "$SHOT")
PORT=${PORT:-$("$(dirname "$0")/free-port.sh")}

mkdir -p "$WORK/home"
export HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/home/.config" LANGUAGE=en
export KIROTRAY_LISTEN="127.0.0.1:$PORT" KIROTRAY_API_KEY="kt-smoke-test-key"
unset KIROTRAY_CREDENTIALS KIROTRAY_DEMO

timeout 120 xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" dbus-run-session -- bash -c '
  bin=$1 log=$2 shot=$3 port=$4 key=$5 up=0 win=""
  "$bin" >"$log" 2>&1 & pid=$!
  for _ in $(seq 300); do                                   # the window, within 30 s
    kill -0 $pid 2>/dev/null || break
    win=$(xwininfo -root -tree 2>/dev/null | awk "/\"kirotray\": /{print \$1; exit}")
    [ -n "$win" ] && { up=1; break; }
    sleep 0.1
  done
  [ $up = 1 ] || { echo "smoke: window never appeared"; cat "$log"; kill -9 $pid 2>/dev/null; exit 1; }
  ok=0
  for _ in $(seq 100); do                                   # the proxy, within 10 s
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && { ok=1; break; }
    sleep 0.1
  done
  [ $ok = 1 ] || { echo "smoke: proxy never answered /healthz"; cat "$log"; kill -9 $pid; exit 1; }
  for i in 1 2 3; do                                        # a few requests for the window to count
    curl -fsS "http://127.0.0.1:$port/v1/messages" -H "x-api-key: $key" -H "content-type: application/json" \
      -H "anthropic-version: 2023-06-01" -H "user-agent: claude-cli/2.1.0 (external, cli)" \
      -d "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":64,\"messages\":[{\"role\":\"user\",\"content\":\"hello $i\"}]}" \
      >/dev/null || { echo "smoke: demo request failed"; cat "$log"; kill -9 $pid; exit 1; }
  done
  second=$(timeout 20 "$bin" 2>&1) || { echo "smoke: a second launch failed: $second"; cat "$log"; kill -9 $pid; exit 1; }
  case $second in                                           # single instance: it shows the first and leaves
    *"already running"*) ;;
    *) echo "smoke: a second launch did not find the first: $second"; kill -9 $pid; exit 1 ;;
  esac
  sleep 1                                                   # let the window draw the last state
  kill -0 $pid || { echo "smoke: app died"; cat "$log"; exit 1; }
  import -window "$win" "$shot"
  import -window root "${shot%.png}-root.png"
  kill -TERM $pid                                           # fyne quits on SIGTERM
  for _ in $(seq 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  kill -0 $pid 2>/dev/null && { echo "smoke: still running 10 s after SIGTERM"; cat "$log"; kill -9 $pid; exit 1; }
  rc=0; wait $pid || rc=$?
  cat "$log"
  [ $rc = 0 ] || { echo "smoke: exit code $rc"; exit 1; }
  if grep -q "Error in Fyne call thread" "$log"; then  # a widget touched off the UI goroutine
    echo "smoke: Fyne threading errors"; exit 1
  fi
  echo "smoke: window up, proxy answered, second launch deferred to the first, screenshot $shot, clean exit"
' _ "$BIN" "$WORK/app.log" "$SHOT" "$PORT" "$KIROTRAY_API_KEY" 2>&1 | grep -v "set fd limit"
exit "${PIPESTATUS[0]}"
