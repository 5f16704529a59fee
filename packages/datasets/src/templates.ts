/** Options of {@link TemplateDetector}. */
export interface TemplateOptions {
  /** A frame is a template when this many distinct records use it (default 5). */
  minCount?: number;
  /** Frames with fewer literal (unmasked) words are too generic to judge ("X said."); default 3. */
  minLiteralWords?: number;
  /** A record is templated when at least this share of its judged sentences are template frames (default 0.5). */
  minShare?: number;
  /** How many of the most repeated frames the report lists (default 10). */
  top?: number;
}

/** A repeated sentence frame with the number of records using it and one example sentence. */
export interface FrameCount {
  frame: string;
  count: number;
  example: string;
}

/** Result of template detection over a corpus. */
export interface TemplateReport {
  /** `flags[i]` is true when record i (in the order added) is templated. */
  flags: boolean[];
  /** Number of templated records. */
  templated: number;
  /** templated / records. */
  rate: number;
  /** The most repeated template frames, most used first. */
  topFrames: FrameCount[];
}

/** Sentence-initial capitalised words that are ordinary words, not names. */
const FUNCTION_WORDS = new Set(
  (
    'a an the this that these those it its he she they we i you his her their our my your there here ' +
    'in on at by for from to of with as and but or if when while after before since during what which who ' +
    'whom whose where why how is was are were be been do does did can could will would should may might must ' +
    'no not all some any each every many most much one two so such then than also however although though ' +
    'because yes please thank'
  ).split(' '),
);
/** Lower-case words that glue the parts of a name ("Leonardo da Vinci", "Victoria and Albert Museum"). */
const NAME_GLUE = new Set([
  'of',
  'the',
  'de',
  'da',
  'di',
  'van',
  'von',
  'der',
  'den',
  'la',
  'le',
  'du',
  'del',
  'y',
  '&',
]);
const ABBREV =
  /(?:\b(?:Mr|Mrs|Ms|Dr|St|Jr|Sr|Prof|Rev|Gen|Col|Capt|Lt|vs|etc|e\.g|i\.e|No|Vol|pp?|Mt|Ft)|\b[A-Z])\.$/;

/** Splits text into sentences at `.`, `!`, `?` (or line breaks) followed by space, keeping abbreviations whole. */
export function splitSentences(text: string): string[] {
  const out: string[] = [];
  for (const para of text.split(/\n+/)) {
    const parts = para.split(/(?<=[.!?]["'”’)\]]?)\s+/);
    let cur = '';
    for (const p of parts) {
      cur = cur ? `${cur} ${p}` : p;
      if (ABBREV.test(cur)) continue;
      if (cur.trim()) out.push(cur.trim());
      cur = '';
    }
    if (cur.trim()) out.push(cur.trim());
  }
  return out;
}

/**
 * The frame of a sentence: numbers become `#`, capitalised words (names, titles; not sentence-initial function
 * words) become `X`, runs of slots (joined by name glue like "of", "da") collapse to one `X`, the rest is
 * lower-cased. "The painting Mona Lisa was made by Leonardo da Vinci in 1503." →
 * "the painting X was made by X in #."
 */
export function sentenceFrame(sentence: string): { frame: string; literalWords: number } {
  const tokens = sentence.match(/[\p{L}\p{N}]+(?:['’.-][\p{L}\p{N}]+)*|[^\s\p{L}\p{N}]/gu) ?? [];
  const mapped: string[] = [];
  let first = true;
  for (const tok of tokens) {
    let m: string;
    if (/\p{N}/u.test(tok)) m = '#';
    else if (/^\p{Lu}/u.test(tok))
      m = first && FUNCTION_WORDS.has(tok.toLowerCase()) ? tok.toLowerCase() : 'X';
    else if (/^[\p{L}]/u.test(tok)) m = tok.toLowerCase();
    else m = tok;
    if (/[\p{L}\p{N}]/u.test(tok)) first = false;
    mapped.push(m);
  }
  // Collapse X (glue X)* and repeated slots into one slot.
  const out: string[] = [];
  for (let i = 0; i < mapped.length; i++) {
    const m = mapped[i];
    const prev = out[out.length - 1];
    if ((m === 'X' || m === '#') && prev === m) continue;
    if (m === 'X' && prev !== undefined && NAME_GLUE.has(prev) && out[out.length - 2] === 'X') {
      out.pop();
      continue;
    }
    if ((m === ',' || m === "'" || m === '’') && prev === 'X' && mapped[i + 1] === 'X') continue;
    out.push(m);
  }
  const literalWords = out.filter((t) => t !== 'X' && t !== '#' && /^[\p{L}]/u.test(t)).length;
  return { frame: out.join(' '), literalWords };
}

/**
 * Detects template-generated records: text whose sentences share a frame (the sentence with names and numbers
 * masked into slots) with many other records, e.g. "The painting X was made by X in #." filled from a table.
 * Add every record's text, then call {@link report}. Frames are counted once per record.
 */
export class TemplateDetector {
  private readonly opts: Required<TemplateOptions>;
  private readonly counts = new Map<string, number>();
  private readonly examples = new Map<string, string>();
  private readonly recordFrames: string[][] = [];
  private readonly judged: number[] = [];

  constructor(options: TemplateOptions = {}) {
    this.opts = { minCount: 5, minLiteralWords: 3, minShare: 0.5, top: 10, ...options };
  }

  /** Adds one record's text; returns its index. */
  add(text: string): number {
    const frames = new Set<string>();
    let judged = 0;
    for (const s of splitSentences(text)) {
      const { frame, literalWords } = sentenceFrame(s);
      if (literalWords < this.opts.minLiteralWords) continue;
      judged++;
      if (frames.has(frame)) continue;
      frames.add(frame);
      this.counts.set(frame, (this.counts.get(frame) ?? 0) + 1);
      if (!this.examples.has(frame)) this.examples.set(frame, s);
    }
    this.recordFrames.push([...frames]);
    this.judged.push(judged);
    return this.recordFrames.length - 1;
  }

  /** Flags, rate and top frames for everything added. */
  report(): TemplateReport {
    const { minCount, minShare, top } = this.opts;
    const flags = this.recordFrames.map((frames, i) => {
      if (this.judged[i] === 0) return false;
      const hits = frames.filter((f) => (this.counts.get(f) ?? 0) >= minCount).length;
      return hits / this.judged[i] >= minShare;
    });
    const templated = flags.filter(Boolean).length;
    const topFrames = [...this.counts.entries()]
      .filter(([, c]) => c >= minCount)
      .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
      .slice(0, top)
      .map(([frame, count]) => ({ frame, count, example: this.examples.get(frame) ?? '' }));
    return { flags, templated, rate: flags.length ? templated / flags.length : 0, topFrames };
  }
}
