#!/usr/bin/env python3
"""Reference token ids for the tokenizer suite, from two independent implementations.

Writes into --out:
  tokenizer_reference.jsonl  one case per line: {"kind", "text", "ids"} with ids from the pip
                             `tiktoken` package (qwen.tiktoken + the Qwen regex + the Qwen3 added
                             tokens as special tokens, encode(allowed_special="all")); random cases
                             also carry "ordinary" (encode_ordinary: added tokens as plain text)
                             and every case carries "hf" (ids from the `tokenizers` package on the
                             tokenizer.json below).
  tokenizer_decode.jsonl     {"ids", "text"}: tiktoken's decode (errors="replace") of random id
                             sequences, many of which cut characters in half.
  qwen_from_ranks/tokenizer.json  a Hugging Face tokenizer.json converted from the ranks
                             (byte-to-unicode vocab, merges recovered from the ranks, NFC, Split
                             with the Qwen regex + ByteLevel, the added tokens).
Every text of the published benchmark (--out/benchmark_v1.json, which the ctest fixture
benchmark_v1 regenerates) is covered (conversations, distractors, fact texts, questions, gold
answers, the seed protocol's raw prompts) plus seeded random Unicode strings.
"""
import argparse
import base64
import json
import os
import random
import sys
from pathlib import Path

import tiktoken
import tokenizers

ROOT = Path(__file__).resolve().parents[2]
TOKENIZER = ROOT / "configs" / "tokenizers" / "qwen3"
QWEN_PATTERN = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"""
                r"""| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""")
SYSTEM_PROMPT = "你是一个助手，请用最简短的方式直接回答问题。只输出答案，不要解释。"


def load_ranks():
    ranks = {}
    with open(TOKENIZER / "qwen.tiktoken", "rb") as f:
        for line in f:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def load_added():
    doc = json.loads((TOKENIZER / "qwen3_added_tokens.json").read_text(encoding="utf-8"))
    return {t["content"]: t["id"] for t in doc["added_tokens"]}, doc["added_tokens"]


def byte_to_unicode():
    # GPT-2's reversible byte -> printable code point table (the ByteLevel alphabet).
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def split_by_ranks(token, ranks, max_rank):
    """The two parts byte-pair merging of `token` ends with when only ranks < max_rank exist."""
    parts = [token[i:i + 1] for i in range(len(token))]
    while len(parts) > 2:
        best, best_at = None, -1
        for i in range(len(parts) - 1):
            r = ranks.get(parts[i] + parts[i + 1])
            if r is not None and r < max_rank and (best is None or r < best):
                best, best_at = r, i
        if best is None:
            break
        parts[best_at:best_at + 2] = [parts[best_at] + parts[best_at + 1]]
    return parts


def write_tokenizer_json(path, ranks, added_list):
    b2u = byte_to_unicode()
    enc = lambda bs: "".join(b2u[b] for b in bs)
    vocab = {enc(t): r for t, r in ranks.items()}
    merges = []
    for token, rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        if len(token) < 2:
            continue
        parts = split_by_ranks(token, ranks, rank)
        if len(parts) != 2:
            sys.exit(f"rank {rank}: {token!r} is not the merge of two lower-ranked tokens")
        merges.append(enc(parts[0]) + " " + enc(parts[1]))
    doc = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": t["id"], "content": t["content"], "single_word": False,
                          "lstrip": False, "rstrip": False, "normalized": False,
                          "special": t["special"]} for t in added_list],
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN_PATTERN}, "behavior": "Isolated",
             "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
             "use_regex": False}]},
        "post_processor": None,
        "decoder": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": False,
                    "use_regex": False},
        "model": {"type": "BPE", "dropout": None, "unk_token": None,
                  "continuing_subword_prefix": "", "end_of_word_suffix": "",
                  "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def benchmark_texts(path):
    doc = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for s in doc["samples"]:
        out.append(("conversation", s["conversation"]))
        if s["distractor"] is not None:
            out.append(("distractor", s["distractor"]))
            out.append(("ingest_d", s["conversation"] + "\n\n" + s["distractor"]))
        for f in s["facts"]:
            out.append(("fact", f["fact_text"]))
        for p in s["probes"]:
            out.append(("question", p["question"]))
            out.append(("gold", p["gold_answer"]))
            out.append(("prompt_with_conversation", SYSTEM_PROMPT + "\n\n以下是一段对话内容：\n"
                        + s["conversation"] + "\n\n问题：" + p["question"] + "\n回答："))
            out.append(("prompt_without_conversation",
                        SYSTEM_PROMPT + "\n\n问题：" + p["question"] + "\n回答："))
    seen, unique = set(), []
    for kind, text in out:
        if text not in seen:
            seen.add(text)
            unique.append((kind, text))
    return unique


def random_texts(rng, added_names, n):
    cjk = lambda: chr(rng.randint(0x4E00, 0x9FFF))
    pools = [
        lambda: rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"),
        lambda: rng.choice("0123456789"),
        lambda: rng.choice("!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'"),
        lambda: rng.choice([" ", "  ", "\t", "\n", "\r\n", "\r", "\n\n", "   \n", "\u00a0", "\u3000",
                            "\u2028", "\u0085", "\u200b", "\ufeff", "\u180e", "\u1680", "\u2009",
                            "\x0b", "\x0c", " \t "]),
        cjk, cjk, cjk,
        lambda: rng.choice("，。：？！、；「」（）《》…—"),
        lambda: rng.choice("０１２３４５６７８９ⅫⅣ²³½¼٣٤߀๓〇"),
        lambda: rng.choice(["😀", "👍🏽", "👨‍👩‍👧", "🇨🇳", "❤️", "🤖", "🧪", "✨"]),
        lambda: rng.choice(["\u0301", "\u0308", "\u20dd", "e\u0301", "A\u030a", "\u1100\u1161",
                            "\u0915\u093c", "n\u0303"]),
        lambda: rng.choice(["한국어", "Привет", "Ελλάδα", "مرحبا", "हिन्दी", "ไทย", "ß", "ǅ", "İ",
                            "\U0001d400\U0001d401", "\U00020000\U00020001", "ſ", "\u212a"]),
        lambda: rng.choice(["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'LL", "'Re", "'VE",
                            "'D", "'M", "'T", "'ſ", "'x"]),
        lambda: rng.choice(added_names),
        lambda: rng.choice(["<|im_", "<think", "</", "|>", "<|endoftext", "<tool_call"]),
        lambda: rng.choice(["张伟", "预算150万", "3月13号", "周三下午两点", "Q2规划", "OKR复盘"]),
    ]
    out = []
    for _ in range(n):
        length = rng.choice([1, 2, 3, 5, 8, 13, 21, 40, 80])
        out.append("".join(rng.choice(pools)() for _ in range(length)))
    return out


def long_texts(rng):
    """Single pre-tokenizer pieces of hundreds to thousands of bytes (the heap merge path)."""
    out = []
    for n in (40, 100, 400, 1500):
        out.append("".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(n)))
        out.append("".join(rng.choice("张伟李明预算项目会议室") for _ in range(n)))
        out.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(n)))
        out.append("".join(rng.choice("aab") for _ in range(n)))
        out.append(" " * n + "x")
        out.append("".join(rng.choice(["😀", "👍🏽", "✨", "!", "?", "#"]) for _ in range(n)))
        out.append("".join(rng.choice("ÀÉÎõüçñ한국어") for _ in range(n)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--tttmem", help="unused: the tokenizer oracle needs no tttmem binary")
    ap.add_argument("--random", type=int, default=4000, help="number of random strings")
    args = ap.parse_args()

    ranks = load_ranks()
    added, added_list = load_added()
    enc = tiktoken.Encoding(name="qwen", pat_str=QWEN_PATTERN, mergeable_ranks=ranks,
                            special_tokens=added)
    json_path = args.out / "qwen_from_ranks" / "tokenizer.json"
    write_tokenizer_json(json_path, ranks, added_list)
    hf = tokenizers.Tokenizer.from_file(str(json_path))

    rng = random.Random(20261122)
    cases = [(kind, text) for kind, text in benchmark_texts(args.out / "benchmark_v1.json")]
    cases += [("random", t) for t in random_texts(rng, sorted(added), args.random)]
    cases += [("long", t) for t in long_texts(rng)]
    lines = []
    hf_differs = 0
    for kind, text in cases:
        rec = {"kind": kind, "text": text, "ids": enc.encode(text, allowed_special="all")}
        if kind == "random":
            rec["ordinary"] = enc.encode_ordinary(text)
        rec["hf"] = hf.encode(text, add_special_tokens=False).ids
        hf_differs += rec["hf"] != rec["ids"]
        lines.append(json.dumps(rec, ensure_ascii=False))
    write_atomic(args.out / "tokenizer_reference.jsonl", "\n".join(lines) + "\n")

    # Random id runs over multi-byte tokens: decodes that cut characters in half.
    multibyte = [r for t, r in ranks.items() if any(b >= 0x80 for b in t)]
    decode_lines = []
    for _ in range(500):
        ids = [rng.choice(multibyte) if rng.random() < 0.8 else rng.randrange(len(ranks))
               for _ in range(rng.randint(1, 12))]
        decode_lines.append(json.dumps({"ids": ids, "text": enc.decode(ids)}, ensure_ascii=False))
    write_atomic(args.out / "tokenizer_decode.jsonl", "\n".join(decode_lines) + "\n")
    print(f"tokenizer reference: {len(cases)} texts, {hf_differs} where tokenizers (NFC) differs "
          f"from tiktoken; tokenizer.json with {len(ranks)} vocab entries")


def write_atomic(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


if __name__ == "__main__":
    main()
