#!/usr/bin/env python3
"""Reference BERT-uncased WordPiece tokenizer, for differential tests of the Rust tokenizer.

    tokenize_ref.py [--vocab VOCAB | --tokenizer-json FILE] [--impl auto|hf|python] [--max-len 256] TEXT...

Prints a JSON array, one {"text", "tokens", "ids"} per TEXT, ids including [CLS]/[SEP], truncated to
--max-len (so at most max_len-2 word pieces), no padding. "hf" uses the `tokenizers` package (the
ground truth); "python" is the pure-python port below, which mirrors `tokenizers`' BertNormalizer +
BertPreTokenizer + WordPiece (not transformers' slow BertTokenizer, which differs on rare characters).
Default vocab: $LENS_MODEL_DIR/vocab.txt (else ~/.cache/lens/models/all-minilm-l6-v2/vocab.txt).
"""
import argparse
import json
import os
import re
import sys
import unicodedata

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
DEFAULT_DIR = os.environ.get("LENS_MODEL_DIR", os.path.expanduser("~/.cache/lens/models/all-minilm-l6-v2"))


def _is_control(c):
    # tokenizers drops \0, U+FFFD and every "other" char (Cc Cf Cs Co Cn) except \t \n \r.
    return c not in "\t\n\r" and unicodedata.category(c)[0] == "C"


def _is_whitespace(c):
    # Rust char::is_whitespace (Unicode White_Space); str.isspace() adds only \x1c-\x1f, which
    # are controls and already removed.
    return c.isspace()


def _is_punct(c):
    o = ord(c)
    return 33 <= o <= 47 or 58 <= o <= 64 or 91 <= o <= 96 or 123 <= o <= 126 or unicodedata.category(c)[0] == "P"


def _is_cjk(o):
    return (0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0x20000 <= o <= 0x2A6DF or 0x2A700 <= o <= 0x2B73F
            or 0x2B740 <= o <= 0x2B81F or 0x2B820 <= o <= 0x2CEAF or 0xF900 <= o <= 0xFAFF or 0x2F800 <= o <= 0x2FA1F)


def normalize(text):
    """BertNormalizer(clean_text, handle_chinese_chars, strip_accents, lowercase), in tokenizers' order."""
    out = []
    for c in text:
        if c in "\0\ufffd" or _is_control(c):
            continue
        if _is_whitespace(c):
            out.append(" ")
        elif _is_cjk(ord(c)):
            out.append(f" {c} ")
        else:
            out.append(c)
    s = unicodedata.normalize("NFD", "".join(out))
    s = "".join(c for c in s if unicodedata.category(c) != "Mn")
    # Per-char lowercase like Rust's char::to_lowercase: no final-sigma context rule (str.lower has one).
    return "".join(c.lower() for c in s)


def pre_tokenize(s):
    """BertPreTokenizer: split on whitespace, every punctuation char is its own word."""
    words, cur = [], []
    for c in s:
        if _is_whitespace(c) or _is_punct(c):
            if cur:
                words.append("".join(cur))
                cur = []
            if not _is_whitespace(c):
                words.append(c)
        else:
            cur.append(c)
    if cur:
        words.append("".join(cur))
    return words


class PyBertTokenizer:
    def __init__(self, vocab_path):
        with open(vocab_path, encoding="utf-8") as f:
            self.vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
        self.inv = {i: t for t, i in self.vocab.items()}
        # Special tokens are matched verbatim in the raw text before normalisation (added tokens).
        self.special_re = re.compile("(" + "|".join(re.escape(t) for t in SPECIALS if t in self.vocab) + ")")

    def wordpiece(self, word):
        if len(word) > 100:  # max_input_chars_per_word
            return ["[UNK]"]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocab:
                    break
                end -= 1
            if end == start:
                return ["[UNK]"]
            pieces.append(piece)
            start = end
        return pieces

    def encode(self, text, max_len=256):
        toks = []
        for part in self.special_re.split(text):
            if part in SPECIALS:
                toks.append(part)
            elif part:
                for w in pre_tokenize(normalize(part)):
                    toks.extend(self.wordpiece(w))
        toks = ["[CLS]"] + toks[: max_len - 2] + ["[SEP]"]
        return toks, [self.vocab[t] for t in toks]


class HfBertTokenizer:
    def __init__(self, vocab_path=None, tokenizer_json=None):
        import tokenizers

        if tokenizer_json:
            self.tok = tokenizers.Tokenizer.from_file(tokenizer_json)
        else:
            self.tok = tokenizers.BertWordPieceTokenizer(vocab_path, lowercase=True)
        self.tok.no_padding()  # the shipped tokenizer.json pads/truncates to 128

    def encode(self, text, max_len=256):
        self.tok.enable_truncation(max_len)
        enc = self.tok.encode(text)
        return enc.tokens, enc.ids


def load(impl="auto", vocab=None, tokenizer_json=None):
    """Returns an object with .encode(text, max_len) -> (tokens, ids)."""
    vocab = vocab or os.path.join(DEFAULT_DIR, "vocab.txt")
    if impl in ("auto", "hf"):
        try:
            return HfBertTokenizer(vocab, tokenizer_json)
        except ImportError:
            if impl == "hf":
                raise
    return PyBertTokenizer(vocab)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab")
    ap.add_argument("--tokenizer-json")
    ap.add_argument("--impl", choices=["auto", "hf", "python"], default="auto")
    ap.add_argument("--max-len", type=int, default=256)
    ap.add_argument("texts", nargs="+")
    a = ap.parse_args()
    tok = load(a.impl, a.vocab, a.tokenizer_json)
    out = []
    for t in a.texts:
        toks, ids = tok.encode(t, a.max_len)
        out.append({"text": t, "tokens": toks, "ids": ids})
    json.dump(out, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
