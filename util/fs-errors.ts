// File-system errors as a person reads them: the path, and the reason in words rather than an
// errno code (a read-only disk, a full one, a file where a folder was expected).

const REASONS: Record<string, string> = {
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is used up',
  ENOTDIR: 'a part of the path is a file, not a folder',
  EISDIR: 'it is a folder, not a file',
  EEXIST: 'it already exists',
  ENOENT: 'no such file or folder',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'the name is too long',
};

/** The reason of a file-system error in words, or its own message for other errors. */
export function fsReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  return (code && REASONS[code]) ?? (e as Error).message;
}

/** Runs `action` on `file`; a file-system error comes back as "`file`: cannot `what` (reason)". */
export async function onFile<T>(file: string, what: string, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (e) {
    if (!(e as NodeJS.ErrnoException)?.code) throw e;
    throw new Error(`${file}: cannot ${what} (${fsReason(e)})`, { cause: e });
  }
}
