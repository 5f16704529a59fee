/**
 * `node dist/demo.js`: a short tour of the GPT-2 tokenizer (the repository's `pnpm start` runs it).
 */
import { Tokenizer } from './index.js';

const tok = Tokenizer.gpt2();
const strict = new TextDecoder('utf-8', { fatal: true });
/** A token as text, or as its bytes in hex when it holds part of a character. */
const show = (id: number): string => {
  const bytes = tok.tokenBytes(id);
  try {
    return JSON.stringify(strict.decode(bytes));
  } catch {
    return `<${[...bytes].map((b) => b.toString(16).toUpperCase()).join(' ')}>`;
  }
};

console.log(`GPT-2 byte-level BPE: ${tok.vocabSize} ids, <|endoftext|> = ${tok.eosTokenId}\n`);

const sentences = [
  'Monet painted the water lilies at Giverny.',
  "Don't split contractions: it's GPT-2's rule.",
  'Emoji and CJK are bytes too: 🎨 東京',
];
for (const text of sentences) {
  const ids = tok.encode(text);
  console.log(`${JSON.stringify(text)}  →  ${ids.length} tokens`);
  console.log(`  ids:    ${ids.join(' ')}`);
  console.log(`  tokens: ${ids.map(show).join(' ')}\n`);
}

const special = 'The end.<|endoftext|>A new document';
console.log(`Special tokens are plain text unless allowed:`);
console.log(`  encode(text)                            → ${tok.encode(special).join(' ')}`);
console.log(
  `  encode(text, { allowedSpecial: 'all' }) → ${tok.encode(special, { allowedSpecial: 'all' }).join(' ')}\n`,
);

const stream = 'Streaming keeps whole characters: 🖼️ → 画';
const decoder = tok.createStreamDecoder();
const chunks = tok.encode(stream).map((id) => decoder.write(id));
chunks.push(decoder.flush());
console.log('Streaming decode, one token at a time ("" = waiting for the rest of a character):');
console.log(`  ${chunks.map((c) => JSON.stringify(c)).join(' ')}`);
console.log(`  joined: ${chunks.join('')}`);
