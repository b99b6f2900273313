#!/usr/bin/env bash
# Example: supervise an interactive Claude Code session in tmux and move it to
# the next account when it hits a usage limit.
#   scripts/supervise-tmux.sh SESSION-UUID compte1 compte2 ...
set -euo pipefail
id=$1
shift
accounts=("$@")
pane=cf-$id

for account in "${accounts[@]}"; do
    # The first account starts the session; every later one resumes it.
    if [[ $account == "${accounts[0]}" ]]; then
        claude_args=(--session-id "$id")
    else
        claude_args=(--resume "$id")
    fi
    tmux new-session -d -s "$pane" -- cf-run --account "$account" -- claude "${claude_args[@]}"

    # cf-run registers the session just before it execs claude: wait for it.
    until cf-run ps --json | grep -q "\"session\":\"$id\""; do sleep 0.2; done

    # Block until the transcript records a usage limit (exit 0) or the
    # session ends on its own (exit 3): then there is nothing left to do.
    if ! cf-run watch --session "$id"; then
        echo "session $id ended under $account"
        exit 0
    fi

    # Limit hit: stop this one (SIGTERM, SIGKILL after 10 s), freeing its lock,
    # and let the loop relaunch it under the next account.
    cf-run stop --session "$id"
    tmux kill-session -t "$pane" 2>/dev/null || true
    echo "session $id hit the limit under $account; moving on"
done
echo "every account is at its limit" >&2
exit 75
