// Uploads the audit log as a workflow artifact. Without the artifact service (a local run, GHES
// without artifact support) the job does not fail for it: we say so and leave the file path.
import * as core from '@actions/core';
import { basename, dirname } from 'node:path';

export type UploadResult = { uploaded: true; id?: number; name: string } | { uploaded: false; reason: string };

export async function uploadAuditLog(path: string, name: string): Promise<UploadResult> {
  if (!process.env.ACTIONS_RUNTIME_TOKEN || !process.env.ACTIONS_RESULTS_URL) {
    return { uploaded: false, reason: 'the artifact service is not available to this step (no ACTIONS_RUNTIME_TOKEN / ACTIONS_RESULTS_URL)' };
  }
  try {
    const { DefaultArtifactClient } = await import('@actions/artifact');
    const res = await new DefaultArtifactClient().uploadArtifact(name, [path], dirname(path), { retentionDays: 90 });
    return { uploaded: true, name, ...(res.id !== undefined ? { id: res.id } : {}) };
  } catch (err) {
    const kind = err instanceof Error ? err.name : 'error';
    core.debug(`artifact upload of ${basename(path)} failed: ${kind}`);
    return { uploaded: false, reason: `the artifact upload failed (${kind})` };
  }
}
