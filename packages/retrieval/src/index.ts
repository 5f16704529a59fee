/**
 * @atelier/retrieval — chunking, BM25 and dense (BERT) embeddings, hybrid search, index persistence,
 * triplet building and QA metrics for retrieval-augmented fine-tuning.
 */
export const PACKAGE_NAME = '@atelier/retrieval';

export {
  type Analyzer,
  analyzeEnglish,
  ENGLISH_STOPWORDS,
  type EnglishAnalyzerOptions,
  englishAnalyzer,
} from './analyzer.js';
export {
  type BertConfig,
  type BertWeights,
  bertForward,
  bertWeightsFromTensors,
  disposeBertWeights,
  geluErf,
  l2Normalize,
  type PoolingMode,
  parseBertConfig,
  pool,
} from './bert.js';
export { Bm25Index, type Bm25Params, type Bm25State, type Hit, topK } from './bm25.js';
export {
  type BudgetCut,
  type BudgetOptions,
  type BudgetResult,
  fitPrompt,
  type PromptParts,
} from './budget.js';
export {
  type BoundaryLevel,
  boundaryLevels,
  type Chunk,
  type ChunkDocument,
  type ChunkOptions,
  chunkDocuments,
  chunkText,
} from './chunk.js';
export {
  EMBEDDER_FILES,
  EMBEDDER_OPTIONAL_FILES,
  type EmbeddingMatrix,
  type EmbedOptions,
  type LoadEmbedderOptions,
  SentenceEmbedder,
} from './embedder.js';
export {
  exactMatch,
  firstRelevantRank,
  maxOverGold,
  meanReciprocalRank,
  normalizeAnswer,
  recallAtK,
  tokenF1,
} from './metrics.js';
export {
  type NamedArray,
  readSafetensors,
  type SafetensorsContent,
  writeFileAtomic,
  writeSafetensors,
} from './safetensors.js';
export { type OffsetTokenizer, type SpanTokenizer, spanTokenizer, wordSpanTokenizer } from './spans.js';
export {
  type BuildIndexOptions,
  buildIndex,
  parseChunksJsonl,
  RetrievalIndex,
  type SearchMode,
  type SearchOptions,
  type SearchResult,
} from './store.js';
export {
  buildTriplets,
  type QaRecord,
  splitBucket,
  type Triplet,
  type TripletOptions,
  type TripletReport,
} from './triplets.js';
export { reciprocalRankFusion, VectorIndex } from './vectors.js';
export { chunkWindow, splitSentences, type Window } from './window.js';
export {
  type BertBatch,
  isChineseChar,
  isPunctuation,
  type WordPieceOptions,
  WordPieceTokenizer,
} from './wordpiece.js';
