#!/usr/bin/env node
// `pnpm start` builds every package (turbo, before this script) and then starts the local cluster.
// The local cluster needs the datanode and frontend apps, which are not built yet: say so plainly
// instead of pretending to start something.
import { existsSync } from 'node:fs';

const frontend = new URL('../apps/frontend/package.json', import.meta.url);
if (!existsSync(frontend)) {
  console.log(
    [
      'All packages are built.',
      'The local cluster (frontend + 3 data nodes, static cluster map) is not available yet: it arrives',
      'with the frontend app. Until then `pnpm start` only builds. A data node runs on its own with',
      '`node apps/datanode/dist/main.js --config <file>` (see apps/datanode/README.md).',
    ].join('\n'),
  );
  process.exit(0);
}
console.error('apps/frontend exists but scripts/start.mjs does not start it yet');
process.exit(1);
