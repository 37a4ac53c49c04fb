"""Builds testdata/model/tokenize_ref.jsonl: {"text", "ids"} per line, ids from HF `tokenizers`."""
import json, sys, os
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tokenize_ref as tr

VOCAB = os.path.expanduser('~/.cache/lens/models/all-minilm-l6-v2/vocab.txt')
TJSON = os.path.expanduser('~/.cache/lens/models/all-minilm-l6-v2/tokenizer.json')
D = '/work/shared/data/cosqa-dev'

queries = [json.loads(l)['query'] for l in open(f'{D}/queries.dev.jsonl')]
q = [t for i, t in enumerate(queries) if i % 5 in (0, 2)]
assert len(q) == 200
codes = [json.loads(l)['code'] for l in open(f'{D}/corpus.jsonl')]
stride = [codes[(i * len(codes)) // 120] for i in range(120)]
longs = [c for c in codes if 1500 <= len(c) <= 4000]
longs = [longs[(i * len(longs)) // 30] for i in range(30)]
code = stride + longs
assert len(code) == 150, len(code)

edge = [
    "", "   ", "\t\n\r ", "Héllo Wörld café naïve résumé", "ÀÉÎÕÜ ÅNGSTRÖM Ærøskøbing",
    "İstanbul ıi İ", "ΣΊΣΥΦΟΣ σίσυφος ς ΟΔΟΣ", "straße STRASSE ẞ",
    "中文分词测试 hello世界", "日本語のテキスト カタカナ ひらがな", "한국어 텍스트 검색",
    "𠀀𠀁 extension B", "a\U0002B820b a\U0002B91Fb a\U0002B920b", "豈 a豈b",
    "I ❤️ Rust 🦀🚀 👍🏽 👨‍👩‍👧", "🥲 🫠 new emoji", "a\x00b\x01c\x7fd\x0be\x0cf\x85g\u200bh\ufeffi\ufffdj",
    "\x1c\x1d\x1e\x1f separators", "[CLS] hello [SEP]", "a[CLS]b[SEP]c[PAD][UNK][MASK]",
    "[cls] [Cls] [ CLS ] [CLS", "[[CLS]] [MASK][MASK]", "[unused0] [unused1]",
    "a" * 150, "b" * 100, "c" * 101, "é" * 60 + "e" * 41, "İ" * 50, "İ" * 51, "I" * 51,
    "hello,world!foo?bar...baz", "«quoted» „German“ ‘single’ — em–dash … ¿Qué? ¡Sí!",
    "$100 + 5% = €105 © ® ™ ° ± × ÷ → ∑ √ ∞", "full-width ＡＢＣ１２３！？",
    "ﬁ ﬂ ﬀ", "مرحبا بالعالم مَرْحَبًا", "שָׁלוֹם", "नमस्ते हिन्दी", "สวัสดีครับ",
    "Tiếng Việt có dấu", "Привет МИР Ёлка й", "Ελληνικά άέήίόύώ ΐ",
    "e\u0301 a\u0300\u0323 o\u0308", "ab\u200dcd\u200cef", "a\u00a0b\u2003c\u3000d\u202fe\u2028f\u2029g",
    "a\u180eb", "a\ue000b \U000f0000", "a\u0378b", 'fn main() { println!("héllo"); }',
    "snake_case_identifier camelCaseIdentifier SCREAMING_CASE", "https://example.com/path?q=1&r=2#frag",
    "3.14159 1,000,000 0xDEADBEEF 1e-10", "don't won't it's", "!!!???...---", "##ing ## #hashtag",
    "a\tb\nc\r\nd", "𝐀𝐁𝐂 𝕏", "Ⅻ ⅻ", "x² H₂O", "word " * 300 + "[SEP]", "a " * 253 + "unbelievably",
    "Ǆ ǅ ǆ K Å Ω", "co\u00adoperate", "\t[CLS]\t", "🇺🇸 🇯🇵", "1️⃣ #️⃣", "[CLS]\u0301x",
    "\ufeffhello", "C++ C# F# .NET node.js", "foo::bar->baz", "ANTIDISESTABLISHMENTARIANISM",
    "x" * 99 + "[SEP]" + "y" * 120, "[SEP]" * 300, "\u0301\u0302 leading marks",
]
texts = q + code + edge
hf = tr.load('hf', VOCAB)
hfj = tr.load('hf', None, TJSON)
py = tr.load('python', VOCAB)
ndiff_json = ndiff_py = 0
with open('/work/main/testdata/model/tokenize_ref.jsonl', 'w', encoding='utf-8') as f:
    for t in texts:
        _, ids = hf.encode(t, 256)
        _, ids2 = hfj.encode(t, 256)
        _, ids3 = py.encode(t, 256)
        if ids2 != ids: ndiff_json += 1; print('tokenizer.json differs:', repr(t[:60]), file=sys.stderr)
        if ids3 != ids: ndiff_py += 1; print('python impl differs:', repr(t[:60]), file=sys.stderr)
        f.write(json.dumps({"text": t, "ids": ids}, ensure_ascii=False) + "\n")
print(len(texts), 'lines;', len(edge), 'edge;', 'json diffs', ndiff_json, 'py diffs', ndiff_py, file=sys.stderr)
lens = [len(hf.encode(c, 100000)[1]) for c in code]
print('code over 256 tokens:', sum(1 for n in lens if n > 256), file=sys.stderr)
