"""Independent reference for tests/eval, written from the seed's evaluation rules (SPEC.md S6 and
`## eval`): normalisation, containment EM, character F1, strict (first-line) EM, the
degeneracy test, random.sample examples and the percentile bootstrap over samples and over
conversations (the samples sharing a conversation text summed into one unit).

Shares no code with the C++ port: Python's own str.lower, `re`'s `\\s` and str.strip are the
behaviour being matched, and the punctuation set is typed out here again.

Writes FIXTURE_DIR/eval_reference.json:
  cases        [{pred, gold, norm_pred, norm_gold, em, f1, strict_em}]
  degenerate   [{text, degenerate}]
  changed      {code point: normalize(chr(code point))} for every code point (surrogates
               excepted) that normalisation changes; all others normalise to themselves
  sample_10    random.seed(42); random.sample(range(10), 5)   (the pool algorithm)
  seed_c       on tests/fixtures/seed/seed_condition_c.json: strict_em, degeneracy, examples,
               a 200-resample bootstrap of the overall EM/F1/strict EM (seed 42) over samples
               (bootstrap) and over conversations (bootstrap_conversation), and
               paired_conversation: EM(x) - EM(C) and EM(x) / EM(C), x being C with its level-2
               samples answered by their golds, over conversations drawn once for both sides
"""

import argparse
import json
import os
import random
import re
from collections import Counter

import numpy as np

PUNCT = set(
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    "\u00b7\u2013\u2014\u2026\u2027"
    "\u3001\u3002\u300a\u300b\u300c\u300d\u300e\u300f\u3010\u3011\u3014\u3015\u301c"
    "！＂＃＄％＆＇（）＊＋，－／：；＜＝＞？＠［＼］＾＿｀｛｜｝～"
    "\uff61"
)
assert len(PUNCT) == 82, len(PUNCT)


def normalize(s):
    s = s.lower()
    s = "".join(" " if ch in PUNCT else ch for ch in s)
    s = re.sub(r"\s+", " ", s)
    return s.strip()


def em(pred, gold):
    p, g = normalize(pred), normalize(gold)
    return 1.0 if g and g in p else 0.0


def f1(pred, gold):
    p, g = list(normalize(pred)), list(normalize(gold))
    if not p or not g:
        return 0.0
    overlap = sum((Counter(p) & Counter(g)).values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(p), overlap / len(g)
    return 2 * precision * recall / (precision + recall)


def strict_em(pred, gold):
    first = pred.strip().split("\n")[0]
    g = normalize(gold)
    return 1.0 if g and normalize(first) == g else 0.0


def degenerate(pred):
    p = pred.strip()
    n = len(p)
    if n == 0 or re.search(r"(.)\1{5,}", p):
        return True
    if n >= 12:
        for size in range(4, min(20, n // 3) + 1):
            for start in range(n - 3 * size + 1):
                chunk, count, pos = p[start:start + size], 1, start + size
                while p[pos:pos + size] == chunk:
                    count, pos = count + 1, pos + size
                    if count >= 3:
                        return True
    return False


CASES = [
    ("答案是何鑫。", "何鑫"),
    ("", "何鑫"),
    ("何鑫", ""),
    ("。。", "。"),
    ("ABC Def", "abc def"),
    ("Hello, World!", "hello world"),
    ("\u0130stanbul", "i\u0307stanbul"),
    ("ΟΔΟΣ ΟΔΟΣ", "οδος οδος"),
    ("ΟΔΟΣ", "οδοσ"),
    ("Straße", "STRASSE"),
    ("何鑫，郭斌", "何鑫 郭斌"),
    ("\u201c何鑫\u201d", "何鑫"),
    ("3\uff0e5", "3 5"),
    ("3.5", "3 5"),
    ("a\u3000\u3000b", "a b"),
    ("a\u200bb", "a b"),
    ("x\x1cy\x85z\u2028w", "x y z w"),
    ("〈何鑫〉", "何鑫"),
    ("《品牌重塑》项目", "品牌重塑"),
    ("何鑫\n问题：谁？\n回答：郭斌", "何鑫"),
    ("何鑫\n问题：谁？\n回答：郭斌", "郭斌"),
    ("  何鑫  \n", "何鑫"),
    ("何鑫、", "何鑫"),
    ("邱阳、何鑫", "何鑫"),
    ("何鑫\r\n下一行", "何鑫"),
    ("aab", "abb"),
    ("😀何鑫😀", "何鑫"),
    ("12万元", "12万"),
    ("\t\n", "x"),
    ("·‧–—…「」『』【】〔〕〜｡", "x"),
    ("偏好清淡的饮食", "偏好清淡"),
    ("清淡", "偏好清淡"),
]

DEGENERATE = [
    "",
    "   ",
    "aaaaaa",
    "aaaaa",
    "\n\n\n\n\n\n",
    "x\n\n\n\n\n\n\ny",
    "x\n\n\n\n\n\n\nyzzzzzz",
    "abcdabcdabcd",
    "abcdabcdabc",
    "xyzabcdabcdabcdq",
    "abcdefghijklmnopqrstu" * 3,
    "abcdefghijklmnopqrst" * 3,
    "UNSUNSUNSUNSUNSUNS",
    "UNSUNSUNSUNS",
    "由谁参与\n\n品牌重塑 由谁参与\n\n品牌重塑 由谁参与\n\n品牌重塑",
    "何鑫 �何何 何何",
    "何鑫向其直属上级汇报，具体人选需根据所在组织的架构确定。",
]


def bootstrap(clusters, resamples, seed):
    rng = random.Random(seed)
    k = len(clusters)
    em_v, f1_v, st_v = [], [], []
    for _ in range(resamples):
        n, e, f, s = 0, 0.0, 0.0, 0.0
        for _ in range(k):
            c = clusters[rng.randrange(k)]
            n, e, f, s = n + c[0], e + c[1], f + c[2], s + c[3]
        em_v.append(e / n)
        f1_v.append(f / n)
        st_v.append(s / n)
    return {name: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]
            for name, v in (("em_ci95", em_v), ("f1_ci95", f1_v), ("strict_em_ci95", st_v))}


def by_conversation(clusters, conversations):
    """Clusters summed per conversation text, in first-occurrence order."""
    merged = {}
    for c, text in zip(clusters, conversations):
        m = merged.setdefault(text, [0, 0.0, 0.0, 0.0])
        for i in range(4):
            m[i] += c[i]
    return list(merged.values())


def paired_bootstrap(xs, ys, resamples, seed):
    """Percentile intervals of EM(x) - EM(y) and EM(x) / max(EM(y), 1e-6), each resample one
    draw of unit indices applied to both sides (xs[i] and ys[i] are the same unit)."""
    rng = random.Random(seed)
    k = len(xs)
    diffs, ratios = [], []
    for _ in range(resamples):
        nx, ex, ny, ey = 0, 0.0, 0, 0.0
        for _ in range(k):
            i = rng.randrange(k)
            nx, ex, ny, ey = nx + xs[i][0], ex + xs[i][1], ny + ys[i][0], ey + ys[i][1]
        diffs.append(ex / nx - ey / ny)
        ratios.append((ex / nx) / max(ey / ny, 1e-6))
    return {name: [float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))]
            for name, v in (("ci95", diffs), ("ratio_ci95", ratios))}


def sample_sums(samples):
    """[probes, EM, F1, strict EM] summed per sample."""
    out = []
    for s in samples:
        c = [0, 0.0, 0.0, 0.0]
        for p in s["predictions"]:
            pred, gold = p["predicted"], p["gold"]
            c = [c[0] + 1, c[1] + em(pred, gold), c[2] + f1(pred, gold),
                 c[3] + strict_em(pred, gold)]
        out.append(c)
    return out


def gold_on_level(samples, level):
    """The samples of `level` answered with their golds, the others as they are."""
    return [dict(s, predictions=[dict(p, predicted=p["gold"]) for p in s["predictions"]])
            if s["level"] == level else s for s in samples]


def seed_c(path, conversation_of):
    with open(path, encoding="utf-8") as f:
        samples = json.load(f)
    clusters = sample_sums(samples)
    conversations = [conversation_of[s["sample_id"]] for s in samples]
    units = by_conversation(clusters, conversations)
    x_units = by_conversation(sample_sums(gold_on_level(samples, 2)), conversations)
    em_x = sum(u[1] for u in x_units) / sum(u[0] for u in x_units)
    em_c = sum(u[1] for u in units) / sum(u[0] for u in units)
    strict_sum = sum(c[3] for c in clusters)
    flat = [(s["sample_id"], p) for s in samples for p in s["predictions"]]
    preds = [p["predicted"] for _, p in flat]
    stripped = [p.strip() for p in preds]
    lengths = [len(p) for p in stripped]
    n = len(preds)
    random.seed(42)
    examples = random.sample(flat, 5)
    return {
        "strict_em": strict_sum / n,
        "degeneracy": {
            "n": n,
            "exact_em": sum(s == p["gold"] for s, (_, p) in zip(stripped, flat)) / n,
            "gold_in_pred": sum(p["gold"] in p["predicted"] for _, p in flat) / n,
            "degenerate": sum(degenerate(p) for p in preds) / n,
            "mean_chars": sum(lengths) / n,
            "median_chars": float(np.median(lengths)),
        },
        "examples": [[sid, p["probe_id"]] for sid, p in examples],
        "bootstrap": {"resamples": 200, "seed": 42, **bootstrap(clusters, 200, 42)},
        "bootstrap_conversation": {"resamples": 200, "seed": 42, "n_conversations": len(units),
                                   **bootstrap(units, 200, 42)},
        "paired_conversation": {"resamples": 200, "seed": 42, "n_samples": len(samples),
                                "n_conversations": len(units), "diff": em_x - em_c,
                                **paired_bootstrap(x_units, units, 200, 42)},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--tttmem")  # unused; every oracle script gets it
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    with open(os.path.join(args.out, "benchmark_v1.json"), encoding="utf-8") as f:
        conversation_of = {s["sample_id"]: s["conversation"] for s in json.load(f)["samples"]}
    random.seed(42)
    sample_10 = random.sample(range(10), 5)
    ref = {
        "cases": [{"pred": p, "gold": g, "norm_pred": normalize(p), "norm_gold": normalize(g),
                   "em": em(p, g), "f1": f1(p, g), "strict_em": strict_em(p, g)}
                  for p, g in CASES],
        "degenerate": [{"text": t, "degenerate": degenerate(t)} for t in DEGENERATE],
        "changed": {str(c): normalize(chr(c)) for c in range(0x110000)
                    if not 0xD800 <= c <= 0xDFFF and normalize(chr(c)) != chr(c)},
        "sample_10": sample_10,
        "seed_c": seed_c(os.path.join(root, "tests", "fixtures", "seed", "seed_condition_c.json"),
                         conversation_of),
    }
    tmp = os.path.join(args.out, "eval_reference.json.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(ref, f, ensure_ascii=False, indent=1)
    os.replace(tmp, os.path.join(args.out, "eval_reference.json"))


if __name__ == "__main__":
    main()
