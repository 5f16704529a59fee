import { stemmer } from 'stemmer';

/** Turns text into index terms. The same analyzer must be used for documents and queries. */
export type Analyzer = (text: string) => string[];

/**
 * English stopwords: the Lucene/Elasticsearch `_english_` list (33 words) plus common pronouns,
 * auxiliaries and question words. Question words matter here: queries are questions ("Who directed…?"),
 * and "who"/"what" carry no lexical evidence about which passage answers them.
 */
export const ENGLISH_STOPWORDS: ReadonlySet<string> = new Set(
  (
    'a an and are as at be but by for if in into is it no not of on or such that the their then there these ' +
    'they this to was will with ' +
    'i me my we our you your he him his she her its them what which who whom whose when where why how ' +
    'am been being were do does did doing have has had having would could should can may might must shall ' +
    'from than so too very s t just also about after before during over under again further once ' +
    'those each both few more most other some any all nor only own same up down out off'
  ).split(' '),
);

export interface EnglishAnalyzerOptions {
  /** Drop these terms (after lowercasing, before stemming). Default ENGLISH_STOPWORDS. */
  stopwords?: ReadonlySet<string>;
  /** Apply the Porter stemmer. Default true. */
  stem?: boolean;
}

// A word is a run of letters/digits/marks, allowing inner apostrophes and hyphen-free joins ("don't", "o'neill").
const WORD = /[\p{L}\p{N}\p{M}]+(?:['’][\p{L}\p{N}\p{M}]+)*/gu;

/**
 * The default English analyzer: Unicode NFKC + lowercase, words of letters/digits (any script),
 * possessive "'s" removed, stopwords dropped, then the Porter stemmer (npm `stemmer`) on Latin words.
 * `analyzeEnglish("The Spielberg's films were directed")` → ["spielberg", "film", "direct"].
 */
export function englishAnalyzer(options: EnglishAnalyzerOptions = {}): Analyzer {
  const stop = options.stopwords ?? ENGLISH_STOPWORDS;
  const stem = options.stem ?? true;
  return (text: string) => {
    const out: string[] = [];
    for (const m of text.normalize('NFKC').toLowerCase().matchAll(WORD)) {
      let w = m[0].replace(/['’]s$/u, '').replace(/['’]/gu, "'");
      if (stop.has(w) || w.length === 0) continue;
      if (stem && /^[a-z]+$/.test(w)) w = stemmer(w);
      out.push(w);
    }
    return out;
  };
}

/** englishAnalyzer() with default options. */
export const analyzeEnglish: Analyzer = englishAnalyzer();
