#!/bin/sh
# Checks a running adapter's detailed health (GET /api/v1/health/detailed).
# Options: --url URL (default CALEJO_URL or http://localhost:8080), --timeout SECONDS, --json.
# Exit codes: 0 healthy, 1 degraded or certificate expiring, 2 unhealthy, 3 could not check.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
# A checkout with dev dependencies runs the source, so a stale build is never used; an install
# without them runs the build that `npm start` made.
if [ -d "$root/node_modules/tsx" ]; then
  exec node --import tsx "$root/src/cli/main.ts" health "$@"
fi
exec node "$root/dist/src/cli/main.js" health "$@"
