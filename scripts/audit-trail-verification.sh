#!/bin/sh
# Checks the hash chain of compliance_audit_log in DATABASE_URL.
# Exit codes: 0 intact, 2 broken (the output names the first bad row), 3 could not check.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
# A checkout with dev dependencies runs the source, so a stale build is never used; an install
# without them runs the build that `npm start` made.
if [ -d "$root/node_modules/tsx" ]; then
  exec node --import tsx "$root/src/cli/main.ts" audit verify "$@"
fi
exec node "$root/dist/src/cli/main.js" audit verify "$@"
