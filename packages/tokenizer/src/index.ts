export { TokenizerFileError } from './bpe.js';
export { BYTE_TO_UNICODE, bytesToUnicode, unicodeToBytes } from './bytes.js';
export { GPT2_PATTERN, gpt2Regex, pretokenize } from './pretokenize.js';
export {
  type AllowedSpecial,
  type EncodeOptions,
  type EncodingWithOffsets,
  type StreamDecoder,
  Tokenizer,
  Tokenizer as GPT2Tokenizer,
  type TokenizerInit,
} from './tokenizer.js';
export { type TrainBpeOptions, trainBpe } from './train.js';
