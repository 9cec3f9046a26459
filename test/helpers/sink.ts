import { Writable } from "node:stream";

/** A Writable that keeps what is written to it, for a command's stdout and stderr: `output()` is all of it so far. */
export function keepingSink(): { sink: Writable; output: () => Buffer } {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      chunks.push(chunk);
      done();
    },
  });
  return { sink, output: () => Buffer.concat(chunks) };
}
