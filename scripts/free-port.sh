#!/usr/bin/env bash
# free-port.sh prints a TCP port on 127.0.0.1 that nothing listens on, below
# Linux's ephemeral range (32768+) so no outgoing connection can hold it.
set -euo pipefail
for _ in $(seq 200); do
  p=$((20000 + RANDOM % 12000))
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
    echo "$p"
    exit 0
  fi
done
echo "free-port: no free port found" >&2
exit 1
