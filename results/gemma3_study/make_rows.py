#!/usr/bin/env python3
"""Training rows for the tiny Gemma3 study: one {"text": PROMPT + " " + ANSWER} line per sample of
the RULER files given, PROMPT being `run`'s in_context prompt for a RULER sample (SPEC.md `run`).
Standard library only.

  make_rows.py OUT.jsonl RULER.json [RULER.json ...]
"""
import json
import sys

PROMPT = ("You are given a document and a question. Answer with just the value, no explanation."
          "\n\nDocument:\n{document}\n\nQuestion: {question}\nAnswer:")

def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    rows = 0
    with open(argv[1], "w", encoding="utf-8") as out:
        for path in argv[2:]:
            with open(path, encoding="utf-8") as f:
                bench = json.load(f)
            for s in bench["samples"]:
                text = PROMPT.format(document=s["document"], question=s["question"]) + " " + s["answer"]
                out.write(json.dumps({"text": text}) + "\n")
                rows += 1
    print(f"{argv[1]}: {rows} rows")

if __name__ == "__main__":
    main(sys.argv)
