// Entry point of the action's `post` step (dist/post.js): all the work is in teardown.ts.
import { runPost } from './teardown.js';

await runPost();
process.exit();
