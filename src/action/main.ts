// Entry point of the action's `main` step (dist/main.js): all the work is in setup.ts.
import { run } from './setup.js';

await run();
