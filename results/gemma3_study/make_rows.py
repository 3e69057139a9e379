#!/usr/bin/env python3
"""Training rows for the tiny Gemma3 study: one {"text": PROMPT + " " + ANSWER} line per sample of
the RULER files given, PROMPT being `run`'s in_context prompt for a RULER sample (SPEC.md `run`).
Standard library only.

  make_rows.py [--distinct-digits SEED] OUT.jsonl RULER.json [RULER.json ...]

--distinct-digits SEED: training rows only. Each sample's value (its niah answer, 7 digits, found
once in the document) is replaced, in the document and the answer alike, by 7 distinct digits
drawn with random.Random(SEED) in file order. With no digit repeated inside the needle, copying a
digit from the token after the same digit earlier is never wrong inside the needle, so a
copying circuit is not punished there while it is rewarded in the answer.
"""
import json
import random
import sys

PROMPT = ("You are given a document and a question. Answer with just the value, no explanation."
          "\n\nDocument:\n{document}\n\nQuestion: {question}\nAnswer:")

def main(argv):
    rng = None
    if len(argv) > 1 and argv[1] == "--distinct-digits":
        rng = random.Random(int(argv[2]))
        argv = argv[:1] + argv[3:]
    if len(argv) < 3:
        sys.exit(__doc__)
    rows = 0
    with open(argv[1], "w", encoding="utf-8") as out:
        for path in argv[2:]:
            with open(path, encoding="utf-8") as f:
                bench = json.load(f)
            for s in bench["samples"]:
                document, answer = s["document"], s["answer"]
                if rng is not None:
                    if document.count(answer) != 1:
                        sys.exit(f"{path}: {s['id']}: the value is not in the document exactly once")
                    value = "".join(rng.sample("0123456789", 7))
                    document, answer = document.replace(answer, value), value
                text = PROMPT.format(document=document, question=s["question"]) + " " + answer
                out.write(json.dumps({"text": text}) + "\n")
                rows += 1
    print(f"{argv[1]}: {rows} rows")

if __name__ == "__main__":
    main(sys.argv)
