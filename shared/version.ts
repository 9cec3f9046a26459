/** The protocol version every side announces. Peers must share the major number. */
export const PROTOCOL_VERSION = "2.0.0";

/** Returns why `theirs` cannot talk to `ours`, or null when the major versions agree. */
export function versionMismatch(ours: string, theirs: string): string | null {
  const major = (version: string) => /^(\d+)\./.exec(version)?.[1];
  const theirMajor = major(theirs);
  if (theirMajor === undefined) return `version "${theirs}" is not of the form MAJOR.MINOR.PATCH`;
  if (theirMajor !== major(ours)) return `protocol version ${theirs} is incompatible with ${ours} (major versions differ)`;
  return null;
}
