import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

/** One line of a text file with its 1-based line number (line endings removed, `\r\n` included). */
export interface Line {
  text: string;
  line: number;
}

/** Streams the lines of a UTF-8 text file without loading it whole; strips a leading byte-order mark. */
export async function* readLines(file: string): AsyncGenerator<Line> {
  const stream = createReadStream(file, { encoding: 'utf8' });
  const rl = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  let n = 0;
  try {
    for await (const raw of rl) {
      n++;
      const text = n === 1 && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
      yield { text, line: n };
    }
  } finally {
    rl.close();
    stream.destroy();
  }
}
