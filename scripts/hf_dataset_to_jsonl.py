#!/usr/bin/env python3
"""Write a Hugging Face dataset split as the JSONL `tttmem train-minimal --data` reads (SPEC.md
`train`): one {"messages": [{"role", "content"}, ...]} per row when the row has a non-empty
`messages` list (chat, e.g. HuggingFaceH4/no_robots), {"instruction", "input", "output"} when the
row has string `instruction` and `output` (e.g. Yukang/LongAlpaca-12k), else {"text": ...} from the first string
field among text, prompt, input, content (the seed's rule, seed-experiment.md 4.2); rows with
neither are skipped. --min-chars/--max-chars filter on the text length (the seed kept
200 < len < 6 * seq_len, measured on the chat-template rendering; here on the joined contents).

Needs the `datasets` package and network access (or a local dataset cache); not part of the
tests. Example:
  scripts/hf_dataset_to_jsonl.py HuggingFaceH4/no_robots --split train --out no_robots.jsonl
"""
import argparse
import json
import os
import sys

TEXT_FIELDS = ("text", "prompt", "input", "content")


def record(row):
    messages = row.get("messages")
    if isinstance(messages, list) and messages:
        chat = [{"role": str(m["role"]), "content": str(m["content"])} for m in messages]
        return {"messages": chat}, "".join(m["content"] for m in chat)
    if isinstance(row.get("instruction"), str) and isinstance(row.get("output"), str):
        # LongAlpaca-style: train-minimal formats it as the Gemma3 adapter study did.
        fields = {k: str(row.get(k) or "") for k in ("instruction", "input", "output")}
        return fields, "".join(fields.values())
    for field in TEXT_FIELDS:
        value = row.get(field)
        if isinstance(value, str):
            return {"text": value}, value
    return None, None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", help="dataset name or local path (datasets.load_dataset)")
    parser.add_argument("--split", default="train")
    parser.add_argument("--config", default=None, help="dataset configuration name")
    parser.add_argument("--out", required=True, help="output JSONL")
    parser.add_argument("--min-chars", type=int, default=0)
    parser.add_argument("--max-chars", type=int, default=0, help="0: no limit")
    parser.add_argument("--limit", type=int, default=0, help="at most this many rows (0: all)")
    args = parser.parse_args()
    from datasets import load_dataset  # imported late so --help works without it

    data = load_dataset(args.dataset, args.config, split=args.split)
    kept = skipped = 0
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as out:
        for row in data:
            rec, text = record(row)
            if rec is None or len(text) <= args.min_chars or (
                    args.max_chars and len(text) >= args.max_chars):
                skipped += 1
                continue
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")
            kept += 1
            if args.limit and kept >= args.limit:
                break
    os.replace(tmp, args.out)
    print(f"{args.out}: {kept} rows written, {skipped} skipped", file=sys.stderr)


if __name__ == "__main__":
    main()
