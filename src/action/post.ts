// Entry point of the action's `post` step (dist/post.js): all the work is in teardown.ts.
import { runPost } from './teardown.js';

// scripts/build.mjs's banner declares `const __filename/__dirname` for the whole bundle. Referencing
// them here makes esbuild treat the names as taken, so it renames a dependency's own top-level
// `var __filename` (@azure/storage-common's crc64.js, pulled in by @actions/artifact) instead of
// leaving a redeclaration that makes the bundle a SyntaxError on load.
void [typeof __filename, typeof __dirname];

await runPost();
process.exit();
