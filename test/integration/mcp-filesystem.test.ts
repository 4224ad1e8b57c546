// The published filesystem MCP server behind tollgate: argument conditions on paths, traversal
// attempts a prompt-injected agent would make, and secrets in file contents.
import { mkdirSync, mkdtempSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, textOf, wrap, type Wrapped } from '../support/mcp.js';

// The fixture policy allows read_text_file and list_directory under /tmp/mcp-fs-*/public/**.
const root = realpathSync(mkdtempSync('/tmp/mcp-fs-'));
const pub = join(root, 'public');
let w: Wrapped;

beforeAll(async () => {
  mkdirSync(pub);
  mkdirSync(join(root, 'secret'));
  writeFileSync(join(pub, 'readme.txt'), 'hello from public\n');
  writeFileSync(join(pub, 'config.txt'), `token=ghp_${'Z'.repeat(36)}\n`);
  writeFileSync(join(root, 'secret', 'key.txt'), 'the crown jewels\n');
  symlinkSync(join(root, 'secret', 'key.txt'), join(pub, 'link.txt'));
  w = await wrap({ server: 'filesystem', command: BIN.filesystem[0], args: [...BIN.filesystem[1], root] });
}, 30_000);
afterAll(async () => w?.close());

const read = (path: unknown) => w.client.callTool({ name: 'read_text_file', arguments: { path } });

describe('server-filesystem through tollgate', () => {
  it('lists only the tools the conditions can allow', async () => {
    expect((await w.client.listTools()).tools.map((t) => t.name).sort()).toEqual(['list_directory', 'read_text_file']);
  });

  it('a file under the allowed path is read; secrets in it are masked', async () => {
    expect(textOf(await read(join(pub, 'readme.txt')))).toBe('hello from public\n');
    expect(textOf(await read(join(pub, 'config.txt')))).toBe('token=[secret]\n');
  });

  it('traversal, other directories and writes are denied before the server sees them', async () => {
    for (const path of [join(pub, '..', 'secret', 'key.txt'), `${pub}/../secret/key.txt`, join(root, 'secret', 'key.txt'), `${pub}/./../secret/key.txt`, 'secret/key.txt', `${pub}\u0000/x`]) {
      const r = await read(path);
      expect(textOf(r), path).toBe('tollgate: denied: tool "read_text_file" on server "filesystem" denied by roles.agent.mcp.rules[4]');
    }
    const write = await w.client.callTool({ name: 'write_file', arguments: { path: join(pub, 'x.txt'), content: 'x' } });
    expect(textOf(write)).toBe('tollgate: denied: tool "write_file" on server "filesystem" denied by roles.agent.mcp.rules[4]');
  });

  it('a symlink inside the allowed path that points out of it is the server\'s to refuse (tollgate sees names, not inodes)', async () => {
    const r = await read(join(pub, 'link.txt'));
    // server-filesystem resolves links and checks the target against its own allowed directory
    // (here the whole root): the text comes back. The README says so: path conditions are on names.
    expect(textOf(r)).toBe('the crown jewels\n');
  });
});
