/** A statement whose accesses cannot be determined; the message is the deny reason. */
export class AnalysisError extends Error {
  override name = 'AnalysisError';
}
