#!/usr/bin/env bash
# Builds and installs cf-run, then runs it on an example layout it makes
# itself: a temporary user whose home holds two accounts and a shared dir.
# A command under each account sees that account's dir at ~/.claude.
#   sudo scripts/demo.sh            # install to /usr/local/bin
#   sudo scripts/demo.sh --privileged   # also give the binary cap_sys_admin+p
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

. scripts/lib.sh
need_root "it installs to /usr/local/bin and makes a demo user"
command -v setpriv >/dev/null || apt_install util-linux libcap2-bin

# Build and install with the project's installer (--privileged passes through).
bash scripts/install.sh "$@"

# A throwaway user with a temporary home: cf-run takes the home from the
# password database, never from $HOME.
tmp_home=$(mktemp -d /tmp/cf-demo-home.XXXXXX)
trap 'userdel "cf-demo-$$" >/dev/null 2>&1; rm -rf "$tmp_home"' EXIT
make_user "cf-demo-$$" "$tmp_home"
make_layout .claude-projects-shared compte1=.claude-compte1 compte2=.claude-compte2
as_user sh -c '
    set -e; cd
    echo "I am compte1" > .claude-compte1/who
    echo "I am compte2" > .claude-compte2/who
    echo "{\"token\": \"compte2-secret\"}" > .claude-compte2/.credentials.json
    echo "a transcript both accounts share" > .claude-projects-shared/session.jsonl'

show='echo "  ~/.claude/who:          $(cat ~/.claude/who)"
      echo "  ~/.claude/projects:     $(ls ~/.claude/projects)"
      echo "  CLAUDE_CONFIG_DIR:      $CLAUDE_CONFIG_DIR"
      echo "  compte2 credentials:    $(cat ~/.claude-compte2/.credentials.json 2>/dev/null || echo hidden)"'

echo
echo "== the plan for compte1 (cf-run --account compte1 --dry-run)"
as_user cf-run --account compte1 --dry-run
for account in compte1 compte2; do
    echo
    echo "== cf-run --account $account -- sh -c '...'"
    as_user cf-run --account "$account" -- sh -c "$show"
done
echo
echo "== outside any session, ~/.claude is an empty directory:"
as_user sh -c 'ls -A ~/.claude | wc -l | sed "s/^/  entries: /"'
