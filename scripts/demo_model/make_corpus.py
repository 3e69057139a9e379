#!/usr/bin/env python3
"""Turn a v2 benchmark (generated with the training seed) into the tiny demo model's corpus.

Writes, into --out, rows {"text": ...} for `tttmem train-minimal` (which appends the end token):
  corpus.jsonl    one row per sample: the seed protocol's condition-A prompt (system prompt, the
                  conversation, for L3 also the distractor, the first question) and its gold
                  answer, then every other probe of the sample as "</s>\n\n问题：Q\n回答：A" (--eos
                  ends each answer), probes in a shuffled order; rows shuffled; all with --seed.
  eval.jsonl      one row per probe (prompt + answer, exactly what condition A asks) for the
                  --eval-rows conversations kept out of corpus.jsonl.
  tokenizer.txt   one line per text the tokenizer should cover (spm_train's input format).
Conversations that also occur in --exclude (the held-out evaluation benchmark) are dropped, so
held-out numbers stay held out. Standard library only.
"""
import argparse
import json
import random
import sys

SYSTEM = "你是一个助手，请用最简短的方式直接回答问题。只输出答案，不要解释。"


def prompt_with_context(context, question):
    # tttmem's seed_prompt_with_conversation (SPEC.md S2.6), the prompt of condition A.
    return f"{SYSTEM}\n\n以下是一段对话内容：\n{context}\n\n问题：{question}\n回答："


def prompt_without_context(question):
    return f"{SYSTEM}\n\n问题：{question}\n回答："


def context_of(sample):
    if sample.get("distractor"):
        return sample["conversation"] + "\n\n" + sample["distractor"]
    return sample["conversation"]


def training_row(sample, rng, eos):
    probes = list(sample["probes"])
    rng.shuffle(probes)
    first, rest = probes[0], probes[1:]
    text = prompt_with_context(context_of(sample), first["question"]) + first["gold_answer"]
    for p in rest:
        text += f"{eos}\n\n问题：{p['question']}\n回答：{p['gold_answer']}"
    return {"text": text}


def eval_rows(sample):
    return [{"text": prompt_with_context(context_of(sample), p["question"]) + p["gold_answer"]}
            for p in sample["probes"]]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("benchmark", help="v2 benchmark JSON made with the training seed")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--exclude", action="append", default=[],
                    help="benchmark JSON whose conversations must not be trained on (repeatable)")
    ap.add_argument("--eval-rows", type=int, default=20, help="conversations kept for eval.jsonl")
    ap.add_argument("--seed", type=int, default=0, help="shuffle seed")
    ap.add_argument("--eos", default="</s>", help="the tokenizer's end token, as text")
    args = ap.parse_args()

    with open(args.benchmark, encoding="utf-8") as f:
        bench = json.load(f)
    if bench.get("version") != "v2":
        sys.exit(f"{args.benchmark}: expected a v2 benchmark, got version {bench.get('version')!r}")
    held_out = set()
    for path in args.exclude:
        with open(path, encoding="utf-8") as f:
            held_out.update(s["conversation"] for s in json.load(f)["samples"])

    samples = [s for s in bench["samples"] if s["conversation"] not in held_out]
    dropped = len(bench["samples"]) - len(samples)
    rng = random.Random(args.seed)
    conversations = sorted({s["conversation"] for s in samples})
    rng.shuffle(conversations)
    eval_conversations = set(conversations[:args.eval_rows])
    train, evaluation = [], []
    for s in samples:
        if s["conversation"] in eval_conversations:
            evaluation.extend(eval_rows(s))
        else:
            train.append(training_row(s, rng, args.eos))
    rng.shuffle(train)
    rng.shuffle(evaluation)

    texts = {SYSTEM, prompt_without_context("")}
    for s in samples:
        texts.update(s["conversation"].split("\n"))
        texts.update(p["question"] for p in s["probes"])
        texts.update(p["gold_answer"] for p in s["probes"])
        if s.get("distractor"):
            texts.update(s["distractor"].split("\n"))
    for name, rows in (("corpus.jsonl", train), ("eval.jsonl", evaluation)):
        with open(f"{args.out}/{name}", "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    with open(f"{args.out}/tokenizer.txt", "w", encoding="utf-8") as f:
        for t in sorted(t for t in texts if t.strip()):
            f.write(t + "\n")
    print(f"corpus.jsonl: {len(train)} rows, eval.jsonl: {len(evaluation)} rows, "
          f"tokenizer.txt: {len(texts)} lines; {dropped} samples dropped as held out")


if __name__ == "__main__":
    main()
