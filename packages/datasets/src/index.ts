/**
 * @atelier/datasets: from raw domain text to training batches. Streaming readers (JSONL, CSV/TSV, text and
 * Markdown, Project Gutenberg, SQuAD, Reddit), downloads, cleaning (normalisation, exact and MinHash
 * near-duplicate removal, template detection), prompt templates with answer-only loss masks, group-hash splits,
 * packing into blocks, seeded resumable batches, stats and warnings, and a Reddit collector.
 */
export const PACKAGE_NAME = '@atelier/datasets';

export {
  type CleanOptions,
  type CleanReport,
  cleanRecords,
  type NormalizeOptions,
  normalizeText,
} from './clean.js';
export {
  type DatasetDownloadOptions,
  defaultCacheDir,
  downloadGutenberg,
  downloadSquad,
  GUTENBERG_BASE_URL,
  SQUAD_V11,
} from './download.js';
export {
  DatasetError,
  type ErrorPolicy,
  formatSource,
  type ReaderOptions,
  ReadReport,
  type SourceRef,
} from './errors.js';
export {
  ALPACA_INPUT_TEMPLATE,
  ALPACA_TEMPLATE,
  CONTEXT_QA_TEMPLATE,
  type FormatOptions,
  type FormattedDoc,
  fillTemplate,
  formatRecord,
  formatRecords,
  type PromptTemplate,
  promptFor,
  QA_TEMPLATE,
  TEXT_TEMPLATE,
  type TokenizerLike,
  templateFor,
} from './format.js';
export { hash32, hashUnit, mulberry32, permutation } from './hash.js';
export { type Line, readLines } from './lines.js';
export { lshParams, MinHashLSH, type MinHashOptions, shingleHashes, words } from './minhash.js';
export {
  type Batch,
  BatchLoader,
  type BatchLoaderOptions,
  type DataPosition,
  loadPacked,
  type PackedDataset,
  type PackOptions,
  packDocuments,
  savePacked,
  type TokenDoc,
} from './pack.js';
export {
  detectFormat,
  type InputFormat,
  type PrepareOptions,
  type PrepareResult,
  prepareDataset,
  type ReadAnyOptions,
  readAny,
} from './prepare.js';
export { type CsvReadOptions, readCsv } from './readers/csv.js';
export { type AdviceOptions, adviceInstruction, headingToTopic, readAdvice } from './readers/etiquette.js';
export {
  type GutenbergReadOptions,
  readGutenberg,
  stripGutenberg,
  stripGutenbergLines,
} from './readers/gutenberg.js';
export { type JsonLine, type JsonlRecordOptions, readJsonl, readJsonlRecords } from './readers/jsonl.js';
export { type FieldMapping, type RecordField, type RecordKind, toRecord } from './readers/mapping.js';
export { type RedditReadOptions, readReddit } from './readers/reddit.js';
export { readSquad, type SquadReadOptions } from './readers/squad.js';
export {
  type HeadingStyle,
  readText,
  type TextReadOptions,
  type TextSplit,
  textRecords,
} from './readers/text.js';
export {
  collect,
  type DatasetRecord,
  type InstructionRecord,
  mapRecordText,
  type QARecord,
  recordText,
  type ScoredAnswer,
  type TextRecord,
} from './records.js';
export {
  type CollectProgress,
  type CollectRedditOptions,
  type CollectResult,
  collectReddit,
  parseRetryAfter,
  RedditError,
  stderrProgress,
  type TimeFilter,
} from './reddit/collect.js';
export {
  isRemovedText,
  type ParsedMarkdownPost,
  parseRedditMarkdown,
  postToMarkdown,
  type RedditComment,
  type RedditPost,
} from './reddit/format.js';
export {
  defaultGroupKey,
  type SplitName,
  type SplitOptions,
  type SplitRatios,
  splitOf,
  splitRecords,
} from './split.js';
export {
  type DatasetStats,
  datasetStats,
  MIN_TOKENS_PER_PARAMETER,
  type StatsOptions,
  type TrainingMode,
  tokenBudgetWarning,
} from './stats.js';
export {
  type FrameCount,
  sentenceFrame,
  splitSentences,
  TemplateDetector,
  type TemplateOptions,
  type TemplateReport,
} from './templates.js';
