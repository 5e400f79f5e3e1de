// A reader that stops reading (`... | head -2`) closes the pipe; the next write fails with EPIPE,
// which Node raises as an unhandled error event and a stack trace. Like any Unix tool, end
// quietly instead.

import process from 'node:process';

/** On EPIPE from stdout or stderr, runs `end` (default: exit with status 0) once, silently. */
export function endOutputQuietlyOnEpipe(end: () => void = () => process.exit(0)): void {
  let ended = false;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
      if (ended) return;
      ended = true;
      end();
    });
  }
}
