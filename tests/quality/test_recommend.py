#!/usr/bin/python3
"""Test of recommend.py (the half-life recommendation of bench-quality): what it says of the
default --min-count 1 is what the figures of the two runs show. Figures as ta-eval prints them
go through report.py --json, as in bench-quality; then recommend.py must say the runs agree when
every figure is the same, say which figure moves when one does (never that the threshold changes
nothing), and fail without printing anything when the runs cannot be compared.

Usage: test_recommend.py [unittest arguments]
"""
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
LABELS = ["all-time", "hl-0.5", "hl-1", "hl-2", "hl-4", "hl-8"]
LENGTHS = [1, 2, 3]


def figures(i, L, best="hl-4", shift=0.0):
    """Success and MRR of setting i at prefix length L: best the best of the half-lives asked
    about, all distinct; shift moves every setting but the reference (another window)."""
    mrr = 0.30 + 0.02 * L + (0.05 if LABELS[i] == best else 0.01 * i)
    if LABELS[i] != "all-time":
        mrr += shift
    return round(mrr + 0.1, 4), round(mrr, 4)


class Recommend(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ta-recommend-test-")
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def run_json(self, tag, labels, change=None, best="hl-4", shift=0.0):
        """report.py --json over one ta-eval TSV per label; change = (label, L, new MRR); best
        and shift as figures()."""
        args = []
        for i, lab in enumerate(labels):
            path = os.path.join(self.dir, "%s-%s.tsv" % (tag, lab))
            with open(path, "w", encoding="utf-8") as f:
                f.write("# events\t1000\tskipped (invalid or empty key)\t0\n")
                f.write("# len\tevents\thits\tsuccess@5\tmrr\n")
                for L in LENGTHS:
                    succ, mrr = figures(LABELS.index(lab), L, best, shift)
                    if change and change[:2] == (lab, L):
                        mrr = change[2]
                    f.write("%d\t1000\t%d\t%.4f\t%.4f\n" % (L, round(succ * 1000), succ, mrr))
            args.append("%s=%s" % (lab, path))
        out = os.path.join(self.dir, tag + ".json")
        subprocess.run([sys.executable, os.path.join(HERE, "report.py"), "--k", "5",
                        "--summary-only", "--json", out] + args,
                       check=True, stdout=subprocess.DEVNULL)
        return out

    def recommend(self, mc1, best="hl-4", short_shift=-0.05):
        main = self.run_json("main", LABELS, best=best)
        short = self.run_json("short", LABELS, best=best, shift=short_shift)
        return subprocess.run([sys.executable, os.path.join(HERE, "recommend.py"), main, short,
                               mc1], capture_output=True, text=True)

    def test_same_figures(self):
        r = self.recommend(self.run_json("mc1", LABELS))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("**`--half-life 4`**", r.stdout)
        n = len(LABELS) * len(LENGTHS) * 2
        self.assertIn("all %d figures (success and MRR of every setting at every prefix length)"
                      " are the same in both runs" % n, r.stdout)
        self.assertNotIn("differ", r.stdout)

    def test_a_figure_moves(self):
        was = figures(LABELS.index("hl-2"), 3)[1]
        r = self.recommend(self.run_json("mc1", LABELS, change=("hl-2", 3, was - 0.0123)))
        self.assertEqual(r.returncode, 0, r.stderr)
        n = len(LABELS) * len(LENGTHS) * 2
        self.assertIn("1 of the %d figures (success and MRR of every setting at every prefix"
                      " length) differ, the largest change hl-2's MRR at length 3 (%.4f, against"
                      " %.4f"
                      % (n, was - 0.0123, was), r.stdout)
        for claim in ("drops no query", "the same in both runs", "changed no answer"):
            self.assertNotIn(claim, r.stdout)

    def test_best_four_weeks(self):
        """hl-4 best: shorter ones named with their figures, the 4-week window well below."""
        r = self.recommend(self.run_json("mc1", LABELS))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Shorter half-lives cost quality here (mean MRR 0.", r.stdout)
        for w in ("at 2 weeks", "at 1 week", "at 0.5 weeks"):
            self.assertIn(w, r.stdout)
        self.assertIn("heavy users", r.stdout)
        self.assertIn("The window matters more than the decay", r.stdout)
        self.assertIn("4 weeks is the longest half-life tested", r.stdout)

    def test_best_one_week(self):
        """hl-1 best: no claim that only longer half-lives hold (2 weeks is longer, not
        shorter), none that a long half-life wins, none that 1 week is the longest within a
        month; and a 4-week window as good as the 10-week one is not said to matter more."""
        r = self.recommend(self.run_json("mc1", LABELS, best="hl-1"), best="hl-1",
                           short_shift=0.0)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("**`--half-life 1`**", r.stdout)
        self.assertIn("Shorter half-lives cost quality here (mean MRR 0.", r.stdout)
        self.assertIn("at 0.5 weeks)", r.stdout)
        for claim in ("at 2 weeks", "at 4 weeks", "heavy users", "longest half-life tested",
                      "The window matters more", "1 weeks"):
            self.assertNotIn(claim, r.stdout)
        self.assertIn("recent weeks predict the next one better", r.stdout)
        self.assertIn("decay matters as much as the window", r.stdout)
        self.assertIn("loses half its weight in 1 week.", r.stdout)

    def test_cannot_compare(self):
        r = self.recommend(self.run_json("mc1", LABELS[:-1]))
        self.assertEqual(r.returncode, 1, r)
        self.assertIn("cannot be checked", r.stderr)
        self.assertEqual(r.stdout, "", "nothing is printed when the check cannot be made")


if __name__ == "__main__":
    unittest.main(verbosity=2)
