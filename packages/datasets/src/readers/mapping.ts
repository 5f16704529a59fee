import { DatasetError, type SourceRef } from '../errors.js';
import type { DatasetRecord } from '../records.js';

/** Record fields a source column/key can map to. */
export type RecordField =
  | 'text'
  | 'title'
  | 'question'
  | 'answer'
  | 'context'
  | 'instruction'
  | 'input'
  | 'output'
  | 'id';

/**
 * Which source key (JSON key, dotted path such as `answers.0.text`, or CSV column name/0-based index) feeds
 * each record field. Unmapped fields are looked up under their own name.
 */
export type FieldMapping = Partial<Record<RecordField, string | number>>;

/** Record kind to build; `'auto'` picks qa (question+answer), instruction (instruction+output) or text. */
export type RecordKind = 'auto' | 'text' | 'qa' | 'instruction';

function lookup(obj: unknown, key: string | number): unknown {
  if (obj === null || typeof obj !== 'object') return undefined;
  if (typeof key === 'number') return (obj as Record<number, unknown>)[key];
  if (key in (obj as Record<string, unknown>)) return (obj as Record<string, unknown>)[key];
  let cur: unknown = obj;
  for (const part of key.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function asText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value) && value.length > 0) return asText(value[0]);
  if (value && typeof value === 'object' && 'text' in value) return asText((value as { text: unknown }).text);
  return undefined;
}

/**
 * Builds a typed record from a parsed object (a JSON line or a CSV row). Throws a {@link DatasetError} naming
 * the missing or mistyped field.
 */
export function toRecord(
  obj: unknown,
  source: SourceRef,
  mapping: FieldMapping = {},
  kind: RecordKind = 'auto',
): DatasetRecord {
  if (obj === null || typeof obj !== 'object') {
    throw new DatasetError(`expected an object, got ${obj === null ? 'null' : typeof obj}`, source);
  }
  const get = (field: RecordField): string | undefined => {
    const key = mapping[field] ?? field;
    const raw = lookup(obj, key);
    if (raw === undefined || raw === null) return undefined;
    const s = asText(raw);
    if (s === undefined) {
      throw new DatasetError(`expected text, got ${Array.isArray(raw) ? 'an empty array' : typeof raw}`, {
        ...source,
        field: String(key),
      });
    }
    return s;
  };
  const need = (field: RecordField): string => {
    const v = get(field);
    if (v === undefined)
      throw new DatasetError('missing required field', { ...source, field: String(mapping[field] ?? field) });
    return v;
  };
  let k = kind;
  if (k === 'auto') {
    if (get('question') !== undefined || get('answer') !== undefined) k = 'qa';
    else if (get('instruction') !== undefined || get('output') !== undefined) k = 'instruction';
    else if (get('text') !== undefined) k = 'text';
    else {
      const keys = Object.keys(obj as object)
        .slice(0, 8)
        .join(', ');
      throw new DatasetError(`no text/question+answer/instruction+output fields (keys: ${keys})`, source);
    }
  }
  const title = get('title');
  const id = get('id');
  const base = { source, ...(title !== undefined ? { title } : {}) };
  if (k === 'text') return { kind: 'text', text: need('text'), ...base };
  if (k === 'qa') {
    const context = get('context');
    return {
      kind: 'qa',
      question: need('question'),
      answer: need('answer'),
      ...(context !== undefined ? { context } : {}),
      ...(id !== undefined ? { id } : {}),
      ...base,
    };
  }
  const input = get('input');
  return {
    kind: 'instruction',
    instruction: need('instruction'),
    output: need('output'),
    ...(input ? { input } : {}),
    ...base,
  };
}
