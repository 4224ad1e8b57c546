// Entry point of the action's `main` step (dist/main.js): all the work is in setup.ts.
import { run } from './setup.js';

await run();
// The proxy runs on, detached; nothing left in this process (an idle keep-alive socket, the
// daemon's stdin pipe) may hold the step open.
process.exit();
