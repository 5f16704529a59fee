#!/usr/bin/env python3
"""Reference BERT sentence embeddings for @atelier/retrieval's tests (plain PyTorch, float64).

Mirrors Hugging Face transformers' BertModel (models/bert/modeling_bert.py: BertEmbeddings, BertSelfAttention,
BertSelfOutput, BertIntermediate with erf GELU, BertOutput), the slow BertTokenizer (tokenization_bert.py:
BasicTokenizer + WordpieceTokenizer) and sentence-transformers' Pooling(mean) + Normalize modules, on random
weights with a tiny config. No transformers package is needed (or used).

Writes tools/reference/fixtures/bert-tiny/ as a Hugging Face / sentence-transformers model directory:
  config.json, model.safetensors (float32), vocab.txt, tokenizer.json, tokenizer_config.json, modules.json,
  1_Pooling/config.json, sentence_bert_config.json
and expected.json: texts, input ids, the last hidden state of text 0, normalised mean-pooled embeddings.

Run: /usr/bin/python3 tools/reference/bert_reference.py   (Debian python3-torch, numpy)
"""
import json
import math
import os
import struct
import unicodedata

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'fixtures', 'bert-tiny')

CONFIG = {
    'architectures': ['BertModel'],
    'model_type': 'bert',
    'hidden_size': 32,
    'num_hidden_layers': 2,
    'num_attention_heads': 4,
    'intermediate_size': 64,
    'hidden_act': 'gelu',
    'max_position_embeddings': 48,
    'type_vocab_size': 2,
    'layer_norm_eps': 1e-12,
    'hidden_dropout_prob': 0.1,
    'attention_probs_dropout_prob': 0.1,
    'pad_token_id': 0,
    'vocab_size': None,  # filled from the vocabulary
}
MAX_SEQ_LENGTH = 24  # sentence_bert_config.json: shorter than max_position_embeddings, so truncation is tested

SPECIAL = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']
WORDS = (
    'the a of and to in is was by it for film films movie directed director star stars james bond '
    'craig daniel spectre eon production productions company made who what which when where '
    'un ##aff ##able ##s ##ed ##ing ##er ##ly play ##ed run runn ##ning cafe resume naive '
    'hello world quick brown fox jump ##s over lazy dog 2015 ##5 20 ##15 1 2 3 $ 245 million '
    'new york city spiel ##berg steven universal studios'
).split()
PUNCT = list('.,!?\'"-()$:;&/')
LETTERS = list('abcdefghijklmnopqrstuvwxyz')
CJK = ['中', '文', '字', '日']

TEXTS = [
    'Spectre (2015) is the twenty-fourth James Bond film produced by Eon Productions.',
    'Who is the star of Spectre?',
    'Hello, world!',
    'The quick brown fox jumps over the lazy dog.',
    'UNAFFABLE résumé and Naïve CAFÉ',
    '中文字 and 日本',
    'Steven Spielberg directed films for Universal Studios in New York City; it was a $245 million production.',
    'running played jumped runner quickly',
    'xyzzy qwv ###',
    '',
    'a',
    'tab\there\nnewline\u00a0nbsp\u200bzero-width',
]


def build_vocab():
    toks = SPECIAL + PUNCT + LETTERS + ['##' + c for c in LETTERS] + CJK
    for w in WORDS:
        if w not in toks:
            toks.append(w)
    return toks


# ---- BasicTokenizer + WordpieceTokenizer (transformers tokenization_bert.py semantics) ----

def _is_whitespace(ch):
    if ch in (' ', '\t', '\n', '\r'):
        return True
    return unicodedata.category(ch) == 'Zs'


def _is_control(ch):
    if ch in ('\t', '\n', '\r'):
        return False
    return unicodedata.category(ch).startswith('C')


def _is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith('P')


def _is_chinese_char(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokenize(text):
    text = ''.join(' ' if _is_whitespace(c) else c for c in text
                   if not (ord(c) == 0 or ord(c) == 0xFFFD or _is_control(c)))
    text = ''.join(f' {c} ' if _is_chinese_char(ord(c)) else c for c in text)
    text = unicodedata.normalize('NFC', text)
    out = []
    for tok in text.split():
        tok = tok.lower()
        tok = ''.join(c for c in unicodedata.normalize('NFD', tok) if unicodedata.category(c) != 'Mn')
        cur = ''
        for c in tok:
            if _is_punctuation(c):
                if cur:
                    out.append(cur)
                out.append(c)
                cur = ''
            else:
                cur += c
        if cur:
            out.append(cur)
    return out


def wordpiece(word, vocab, max_chars=100):
    if len(word) > max_chars:
        return ['[UNK]']
    pieces, start = [], 0
    while start < len(word):
        end, cur = len(word), None
        while start < end:
            sub = word[start:end]
            if start > 0:
                sub = '##' + sub
            if sub in vocab:
                cur = sub
                break
            end -= 1
        if cur is None:
            return ['[UNK]']
        pieces.append(cur)
        start = end
    return pieces


def encode(text, vocab, max_length):
    toks = [p for w in basic_tokenize(text) for p in wordpiece(w, vocab)]
    ids = [vocab[t] for t in toks][: max_length - 2]
    return [vocab['[CLS]']] + ids + [vocab['[SEP]']]


# ---- BERT (modeling_bert.py semantics, eval mode: dropout off) ----

def gelu_erf(x):
    return 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))


def layer_norm(x, w, b, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps)


def linear(x, p, name):
    return x @ p[name + '.weight'].T + p[name + '.bias']


def bert_forward(p, cfg, input_ids, attention_mask):
    """input_ids, attention_mask: [B, T] → last hidden state [B, T, H]."""
    B, T = input_ids.shape
    H, nh = cfg['hidden_size'], cfg['num_attention_heads']
    hs = H // nh
    eps = cfg['layer_norm_eps']
    pos = torch.arange(T)
    x = (p['embeddings.word_embeddings.weight'][input_ids]
         + p['embeddings.position_embeddings.weight'][pos][None]
         + p['embeddings.token_type_embeddings.weight'][torch.zeros_like(input_ids)])
    x = layer_norm(x, p['embeddings.LayerNorm.weight'], p['embeddings.LayerNorm.bias'], eps)
    # get_extended_attention_mask: (1 - mask) * finfo.min, broadcast over heads and queries.
    ext = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
    for i in range(cfg['num_hidden_layers']):
        L = f'encoder.layer.{i}.'
        split = lambda t: t.view(B, T, nh, hs).permute(0, 2, 1, 3)  # noqa: E731
        q = split(linear(x, p, L + 'attention.self.query'))
        k = split(linear(x, p, L + 'attention.self.key'))
        v = split(linear(x, p, L + 'attention.self.value'))
        scores = q @ k.transpose(-1, -2) / math.sqrt(hs) + ext
        probs = torch.softmax(scores, dim=-1)
        ctx = (probs @ v).permute(0, 2, 1, 3).reshape(B, T, H)
        a = layer_norm(linear(ctx, p, L + 'attention.output.dense') + x,
                       p[L + 'attention.output.LayerNorm.weight'], p[L + 'attention.output.LayerNorm.bias'], eps)
        h = gelu_erf(linear(a, p, L + 'intermediate.dense'))
        x = layer_norm(linear(h, p, L + 'output.dense') + a,
                       p[L + 'output.LayerNorm.weight'], p[L + 'output.LayerNorm.bias'], eps)
    return x


def mean_pool_normalize(hidden, mask):
    """sentence-transformers Pooling(pooling_mode_mean_tokens) then Normalize."""
    m = mask[:, :, None].to(hidden.dtype)
    pooled = (hidden * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)
    return torch.nn.functional.normalize(pooled, p=2, dim=1)


def random_weights(cfg):
    g = torch.Generator().manual_seed(1234)
    H, I, V = cfg['hidden_size'], cfg['intermediate_size'], cfg['vocab_size']
    r = lambda *shape, std=0.3: torch.randn(*shape, generator=g) * std  # noqa: E731
    p = {
        'embeddings.word_embeddings.weight': r(V, H, std=1.0),
        'embeddings.position_embeddings.weight': r(cfg['max_position_embeddings'], H, std=0.5),
        'embeddings.token_type_embeddings.weight': r(cfg['type_vocab_size'], H, std=0.5),
        'embeddings.LayerNorm.weight': 1 + r(H, std=0.1),
        'embeddings.LayerNorm.bias': r(H, std=0.1),
    }
    for i in range(cfg['num_hidden_layers']):
        L = f'encoder.layer.{i}.'
        for name, (o, n) in {
            'attention.self.query': (H, H), 'attention.self.key': (H, H), 'attention.self.value': (H, H),
            'attention.output.dense': (H, H), 'intermediate.dense': (I, H), 'output.dense': (H, I),
        }.items():
            p[L + name + '.weight'] = r(o, n, std=1.0 / math.sqrt(n))
            p[L + name + '.bias'] = r(o, std=0.1)
        for name in ('attention.output.LayerNorm', 'output.LayerNorm'):
            p[L + name + '.weight'] = 1 + r(H, std=0.1)
            p[L + name + '.bias'] = r(H, std=0.1)
    p['pooler.dense.weight'] = r(H, H)  # present in BertModel checkpoints; unused for sentence embeddings
    p['pooler.dense.bias'] = r(H)
    return {k: v.to(torch.float32).contiguous() for k, v in p.items()}


def write_safetensors(path, tensors):
    """safetensors format: u64 LE header length, JSON header (dtype, shape, data_offsets), raw LE data."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = tensors[name].numpy().astype('<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(tensors[name].shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header['__metadata__'] = {'format': 'pt'}
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def dump(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f, indent=1)
        f.write('\n')


def main():
    torch.set_num_threads(1)
    toks = build_vocab()
    vocab = {t: i for i, t in enumerate(toks)}
    cfg = dict(CONFIG, vocab_size=len(toks))
    p32 = random_weights(cfg)
    p64 = {k: v.to(torch.float64) for k, v in p32.items()}

    ids = [encode(t, vocab, MAX_SEQ_LENGTH) for t in TEXTS]
    T = max(len(s) for s in ids)
    input_ids = torch.tensor([s + [0] * (T - len(s)) for s in ids])
    mask = torch.tensor([[1] * len(s) + [0] * (T - len(s)) for s in ids])
    with torch.no_grad():
        hidden = bert_forward(p64, cfg, input_ids, mask)
        emb = mean_pool_normalize(hidden, mask)

    os.makedirs(os.path.join(OUT, '1_Pooling'), exist_ok=True)
    dump(os.path.join(OUT, 'config.json'), cfg)
    write_safetensors(os.path.join(OUT, 'model.safetensors'), p32)
    with open(os.path.join(OUT, 'vocab.txt'), 'w') as f:
        f.write('\n'.join(toks) + '\n')
    dump(os.path.join(OUT, 'tokenizer_config.json'), {
        'do_lower_case': True, 'model_max_length': 512, 'tokenizer_class': 'BertTokenizer',
        'unk_token': '[UNK]', 'cls_token': '[CLS]', 'sep_token': '[SEP]', 'pad_token': '[PAD]', 'mask_token': '[MASK]',
    })
    dump(os.path.join(OUT, 'tokenizer.json'), {
        'version': '1.0',
        'normalizer': {'type': 'BertNormalizer', 'clean_text': True, 'handle_chinese_chars': True,
                       'strip_accents': None, 'lowercase': True},
        'pre_tokenizer': {'type': 'BertPreTokenizer'},
        'model': {'type': 'WordPiece', 'unk_token': '[UNK]', 'continuing_subword_prefix': '##',
                  'max_input_chars_per_word': 100, 'vocab': vocab},
    })
    dump(os.path.join(OUT, 'modules.json'), [
        {'idx': 0, 'name': '0', 'path': '', 'type': 'sentence_transformers.models.Transformer'},
        {'idx': 1, 'name': '1', 'path': '1_Pooling', 'type': 'sentence_transformers.models.Pooling'},
        {'idx': 2, 'name': '2', 'path': '2_Normalize', 'type': 'sentence_transformers.models.Normalize'},
    ])
    dump(os.path.join(OUT, '1_Pooling', 'config.json'), {
        'word_embedding_dimension': cfg['hidden_size'], 'pooling_mode_cls_token': False,
        'pooling_mode_mean_tokens': True, 'pooling_mode_max_tokens': False, 'pooling_mode_mean_sqrt_len_tokens': False,
    })
    dump(os.path.join(OUT, 'sentence_bert_config.json'), {'max_seq_length': MAX_SEQ_LENGTH, 'do_lower_case': False})
    dump(os.path.join(OUT, 'expected.json'), {
        'generator': 'tools/reference/bert_reference.py (PyTorch %s, float64 compute on float32 weights)' % torch.__version__,
        'max_seq_length': MAX_SEQ_LENGTH,
        'texts': TEXTS,
        'tokens': [[toks[i] for i in s] for s in ids],
        'input_ids': ids,
        'last_hidden_state_0': hidden[0, : len(ids[0])].tolist(),
        'embeddings': emb.tolist(),
    })
    print(f'wrote {OUT}: vocab {len(toks)}, {len(TEXTS)} texts, padded length {T}')


if __name__ == '__main__':
    main()
