#!/usr/bin/python3
"""Unit tests of sweep_summary.py: merging the `done:` lines of split sweep
runs and counting the shares, on hand-written lines counted by hand."""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sweep_summary as ss  # noqa: E402

LOG_A = """\
warm-up noise that is not a result
done: cifar10 | raspi4, q=0.25 (15.72 ms) | random 1.10 (mean 1.35) | evolution 0.00 (mean 0.40) | ppo 0.00 (mean 0.20)
done: cifar10 | raspi4, q=0.10 (8.00 ms), function median | random 0.32 (mean 0.50) | evolution 0.07 (mean 0.10) | ppo 0.45 (mean 0.60)
"""
# A later log repeats one setting (a rerun): the last line read counts.
LOG_B = """\
done: cifar10 | raspi4, q=0.25 (15.72 ms) | random 1.10 (mean 1.35) | evolution 0.00 (mean 0.40) | ppo 0.00 (mean 0.50)
done: imagenet16 | fpga, q=0.50 (3.00 ms) | random 2.00 | evolution 1.00 | ppo 1.00
"""


class SweepSummaryTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.paths = []
        for name, text in (("a.err", LOG_A), ("b.err", LOG_B)):
            path = os.path.join(self.dir.name, name)
            with open(path, "w") as f:
                f.write(text)
            self.paths.append(path)

    def tearDown(self):
        self.dir.cleanup()

    def test_merges_and_keeps_the_last_line_of_a_setting(self):
        results = ss.parse(self.paths)
        self.assertEqual(len(results), 3)
        self.assertEqual(results[("cifar10", "raspi4, q=0.25 (15.72 ms)")]["ppo"], (0.0, 0.5))
        self.assertEqual(results[("imagenet16", "fpga, q=0.50 (3.00 ms)")]["ppo"], (1.0, None))

    def test_shares_break_ties_by_the_mean_only_in_their_own_columns(self):
        table = ss.shares(ss.parse(self.paths), "all", lambda d, s: True)
        # ppo: ahead of random in 2 of 3 (0.45 > 0.32 behind by 0.13, so not
        # within 0.1 there); ahead of evolution strictly in 0 of 3; with ties
        # by mean: raspi4 q=0.25 has 0.50 > 0.40 (not ahead), fpga has no
        # means (a tie stays a tie).
        self.assertIn("| ppo | 3 | 2/3 (67%) | 2/3 (67%) | 0/3 (0%) | 2/3 (67%) | 0/3 (0%) | +0.13 |",
                      table)
        self.assertIn("| evolution | 3 | 3/3 (100%) | 3/3 (100%) | 0/3 (0%) | 3/3 (100%) | 0/3 (0%) |",
                      table)

    def test_a_line_it_cannot_read_is_an_error_naming_it(self):
        path = os.path.join(self.dir.name, "bad.err")
        with open(path, "w") as f:
            f.write("done: cifar10 | x | random one\n")
        with self.assertRaises(SystemExit) as e:
            ss.parse([path])
        self.assertIn("random one", str(e.exception))


if __name__ == "__main__":
    unittest.main()
