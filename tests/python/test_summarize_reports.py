#!/usr/bin/env python3
"""scripts/summarize_reports.py on reports the test writes: the seed rows, their mean and range,
the comparison against the seed spread, and the distractor-length columns.

  test_summarize_reports.py [--root DIR]
"""
import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]


def entry(em, lo, hi, n=10):
    return {"n": n, "em": em, "em_ci95": [lo, hi]}


def report(b, c, d_by_length=None):
    """A report with conditions B, C (and D by length): EM values with made-up intervals."""
    by = {"b": {"overall": entry(b, b - 0.1, b + 0.1), "n_samples": 6, "n_conversations": 4,
                "by_level": {"3": entry(b, b - 0.2, b + 0.2, 3)}},
          "c": {"overall": entry(c, c - 0.1, c + 0.1), "n_samples": 6, "n_conversations": 4}}
    if d_by_length:
        by["d"] = {"overall": entry(0.0, 0.0, 0.0, 9), "n_samples": 6, "n_conversations": 2,
                   "by_distractor_length": {k: entry(v, v - 0.3, v + 0.3, 3)
                                            for k, v in d_by_length.items()}}
    return {"by_condition": by,
            "headline": {"em_b_minus_c": {"diff": b - c, "ci95": [b - c - 0.05, b - c + 0.05]}}}


class Summary(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = pathlib.Path(self.tmp.name)

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, content):
        folder = self.dir / name
        folder.mkdir()
        (folder / "report.json").write_text(json.dumps(content), encoding="utf-8")
        return folder

    def summarize(self, *args):
        done = subprocess.run([sys.executable, str(ROOT / "scripts/summarize_reports.py"), *args],
                              capture_output=True, text=True)
        self.assertEqual(done.returncode, 0, done.stderr)
        return done.stdout.splitlines()

    def test_one_run_per_setting_keeps_the_plain_table(self):
        lines = self.summarize(f"base={self.write('base', report(0.5, 0.1))}")
        self.assertEqual(lines[0], "| setting | conversations / samples / probes | EM B | EM C | "
                                   "B − C (paired) |")
        self.assertEqual(lines[2], "| base | 4 / 6 / 10 | 0.500 [0.400, 0.600] | "
                                   "0.100 [0.000, 0.200] | +0.400 [+0.350, +0.450] |")

    def test_seeds_get_their_rows_a_mean_with_its_range_and_a_verdict(self):
        runs = [f"mem/{s}={self.write(f'm{s}', report(b, 0.1))}"
                for s, b in ((1, 0.8), (2, 0.7), (3, 0.9))]
        runs += [f"lm/{s}={self.write(f'l{s}', report(b, c))}"
                 for s, b, c in ((1, 0.6, 0.1), (2, 0.75, 0.2), (3, 0.5, 0.0))]
        lines = self.summarize("--compare", "mem:lm", *runs)
        self.assertEqual(lines[0].split(" | ")[1], "seed")
        self.assertIn("| mem | 2 | 4 / 6 / 10 | 0.700 [0.600, 0.800] |", lines[3])
        self.assertIn("| mem | mean of 3 | 4 / 6 / 10 | 0.800 (0.700–0.900) | "
                      "0.100 (0.100–0.100) | +0.700 (+0.600–+0.800) |", lines)
        self.assertIn("| lm | mean of 3 | 4 / 6 / 10 | 0.617 (0.500–0.750) | "
                      "0.100 (0.000–0.200) | +0.517 (+0.500–+0.550) |", lines)
        # B: 0.7 (mem's lowest) < 0.75 (lm's highest): the ranges overlap, whatever the means.
        self.assertIn("| mem − lm | EM B | +0.183 | 0.800, 0.700, 0.900 | 0.600, 0.750, 0.500 | "
                      "no: the seeds' ranges overlap |", lines)
        self.assertIn("| mem − lm | EM C | +0.000 | 0.100, 0.100, 0.100 | 0.100, 0.200, 0.000 | "
                      "no: the seeds' ranges overlap |", lines)
        runs[3] = f"lm/1={self.write('l1b', report(0.65, 0.1))}"
        runs[4] = f"lm/2={self.write('l2b', report(0.69, 0.1))}"
        self.assertIn("| mem − lm | EM B | +0.187 | 0.800, 0.700, 0.900 | 0.650, 0.690, 0.500 | yes |",
                      self.summarize("--compare", "mem:lm", *runs))

    def test_distractor_lengths_are_columns_of_b_on_level_3_and_d(self):
        runs = [f"mem/{s}={self.write(f'd{s}', report(0.8, 0.1, {'1536': d1536, '128': d128}))}"
                for s, d128, d1536 in ((1, 0.7, 0.4), (2, 0.9, 0.2))]
        lines = self.summarize("--distractor-lengths", *runs)
        self.assertEqual(lines[0], "| setting | seed | conversations / samples / probes | "
                                   "EM B (level 3) | EM D, 128 tokens | EM D, 1536 tokens |")
        self.assertEqual(lines[2], "| mem | 1 | 2 / 6 / 9 | 0.800 [0.600, 1.000] | "
                                   "0.700 [0.400, 1.000] | 0.400 [0.100, 0.700] |")
        self.assertEqual(lines[4], "| mem | mean of 2 | 2 / 6 / 9 | 0.800 (0.800–0.800) | "
                                   "0.800 (0.700–0.900) | 0.300 (0.200–0.400) |")

    def test_a_comparison_of_an_unknown_setting_is_refused(self):
        done = subprocess.run([sys.executable, str(ROOT / "scripts/summarize_reports.py"),
                               "--compare", "mem:nope", f"mem={self.write('x', report(0.5, 0.1))}"],
                              capture_output=True, text=True)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("--compare names nope", done.stderr)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", type=pathlib.Path)
    known, rest = ap.parse_known_args()
    if known.root:
        ROOT = known.root
    unittest.main(argv=[sys.argv[0], *rest])
