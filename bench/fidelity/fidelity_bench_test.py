#!/usr/bin/python3
"""Unit tests of fidelity_bench.py's pure logic: reading hwnas-worker logs,
best-so-far curves, the time-to-quality table and the SVG plot. No training,
no Optuna, no server: hand-written inputs whose answers are counted by hand."""
import csv
import io
import math
import os
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fidelity_bench as fb  # noqa: E402

WORKER_LOG = """\
2026-12-07T18:26:11.721Z info event=worker_registered worker=w-1 server=127.0.0.1:1 evaluators=3
2026-12-07T18:26:11.745Z info event=trial_started search=1 trial=1 attempt=1 arch="none"
2026-12-07T18:26:12.207Z info event=trial_done state=SUCCEEDED accuracy=0.0202 epochs=9 train_seconds=0.3 latency_ms=-1.000 error=""
2026-12-07T18:26:12.251Z info event=trial_reported search=1 trial=1 state=SUCCEEDED accuracy=0.0202 duplicate=false
2026-12-07T18:26:13.263Z info event=trial_started search=1 trial=4 attempt=1 arch="conv_k9_d1_c16_p2 gru_h16"
2026-12-07T18:26:15.000Z info event=trial_done state=EARLY_STOPPED accuracy=0.5000 epochs=1 train_seconds=1.7 latency_ms=-1.000 error=""
2026-12-07T18:26:15.500Z info event=trial_reported search=1 trial=4 state=EARLY_STOPPED accuracy=0.5000 duplicate=false
2026-12-07T18:26:16.000Z info event=trial_started search=1 trial=5 attempt=1 arch="gru_h32"
2026-12-07T18:26:22.296Z info event=trial_done state=SUCCEEDED accuracy=0.9091 epochs=9 train_seconds=9.0 latency_ms=-1.000 error=""
2026-12-07T18:26:22.352Z info event=trial_failure_reported trial=5 requeued=true reason="worker shutting down"
"""


def rows(text):
    return list(csv.DictReader(io.StringIO(text)))


RUNS = rows("""\
task,side,seed,deadline_s,start_utc,load1_start,load1_end,finished,trained,infeasible,best_accuracy,note
ecg,hwnas:evolution,0,100,x,1.0,2.0,3,3,,0.9,
ecg,optuna:tpe:hyperband,0,100,x,2.0,3.0,3,2,1,0.8,
ecg,hwnas:evolution,1,100,x,1.0,2.0,1,1,,0.5,
ecg,optuna:tpe:hyperband,1,100,x,2.0,3.0,1,1,0,0.7,
""")

TRIALS = rows("""\
task,side,seed,t_s,state,accuracy,epochs,feasible,arch
ecg,hwnas:evolution,0,5.0,SUCCEEDED,0.60,9,1,a
ecg,hwnas:evolution,0,10.0,EARLY_STOPPED,0.85,1,1,b
ecg,hwnas:evolution,0,30.0,SUCCEEDED,0.90,9,1,c
ecg,optuna:tpe:hyperband,0,20.0,INFEASIBLE,0.0,0,0,d
ecg,optuna:tpe:hyperband,0,40.0,COMPLETE,0.80,9,1,e
ecg,optuna:tpe:hyperband,0,60.0,PRUNED,0.70,1,1,f
ecg,hwnas:evolution,1,50.0,SUCCEEDED,0.50,9,1,g
ecg,optuna:tpe:hyperband,1,80.0,COMPLETE,0.70,9,1,h
""")


class WorkerLogTest(unittest.TestCase):
    def test_counts_reported_trials_only(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "worker-1.log"), "w") as f:
                f.write(WORKER_LOG)
            with open(os.path.join(d, "server.log"), "w") as f:
                f.write("not a worker log\n")
            t0 = fb.utc_seconds("2026-12-07T18:26:10.000Z")
            got = fb.parse_worker_logs(d, t0)
        # Trial 5 finished training but its report failed (shutdown): not counted.
        self.assertEqual(len(got), 2)
        self.assertAlmostEqual(got[0][0], 2.251, places=3)
        self.assertEqual(got[0][1:], ("SUCCEEDED", 0.0202, 9, "none", "1"))
        self.assertAlmostEqual(got[1][0], 5.5, places=3)
        self.assertEqual(got[1][1:], ("EARLY_STOPPED", 0.5, 1, "conv_k9_d1_c16_p2 gru_h16", "1"))


class CurveTest(unittest.TestCase):
    def test_best_so_far_skips_infeasible_and_steps_up(self):
        c = fb.best_curves(TRIALS)
        self.assertEqual(c[("ecg", "hwnas:evolution", 0)], [(5.0, 0.6), (10.0, 0.85), (30.0, 0.9)])
        # The infeasible 0.0 and the later, worse pruned trial do not appear.
        self.assertEqual(c[("ecg", "optuna:tpe:hyperband", 0)], [(40.0, 0.8)])

    def test_time_to(self):
        curve = [(5.0, 0.6), (10.0, 0.85), (30.0, 0.9)]
        self.assertEqual(fb.time_to(curve, 0.8), 10.0)
        self.assertEqual(fb.time_to(curve, 0.9), 30.0)
        self.assertIsNone(fb.time_to(curve, 0.95))

    def test_median(self):
        self.assertEqual(fb.median([3, 1, 2]), 2)
        self.assertEqual(fb.median([4, 1, 2, 3]), 2.5)
        self.assertTrue(math.isnan(fb.median([])))


class TableTest(unittest.TestCase):
    def test_ratios_paired_by_seed(self):
        [row] = fb.time_to_quality(RUNS, TRIALS)
        self.assertEqual((row["hwnas"], row["optuna"]), ("hwnas:evolution", "optuna:tpe:hyperband"))
        s0, s1 = row["seeds"]
        # Seed 0: Optuna's best 0.80 at 40 s; hwnas first had >= 0.80 at 10 s.
        self.assertEqual((s0["optuna_best"], s0["optuna_t"], s0["hwnas_t"]), (0.8, 40.0, 10.0))
        self.assertAlmostEqual(s0["ratio"], 0.25)
        # Seed 1: hwnas never reached 0.70.
        self.assertIsNone(s1["hwnas_t"])
        self.assertTrue(math.isinf(s1["ratio"]))

    def test_markdown(self):
        md = fb.summary_markdown(RUNS, TRIALS)
        self.assertIn("| ecg | hwnas:evolution | optuna:tpe:hyperband | 0 | 0.8000 | 40 s | 10 s | "
                      "0.25 | 0.9000 |", md)
        self.assertIn("| 1 | 0.7000 | 80 s | not reached | - | 0.5000 |", md)
        self.assertIn("goal (<= 0.25) met in 1 of 2 seeds", md)


class PlotTest(unittest.TestCase):
    def test_svg_is_well_formed_with_one_line_per_run(self):
        svg = fb.svg_plot(RUNS, TRIALS)
        root = ET.fromstring(svg)
        ns = "{http://www.w3.org/2000/svg}"
        self.assertEqual(len(root.findall(f"{ns}polyline")), 4)
        texts = [t.text for t in root.iter(f"{ns}text")]
        self.assertIn("hwnas:evolution", texts)
        self.assertIn("optuna:tpe:hyperband", texts)


class HwnasSpecTest(unittest.TestCase):
    BASE = "name: t\ntraining: {epochs: 9}\nearly_stopping: {rule: median}\n"

    def setUp(self):
        try:
            import yaml  # noqa: F401  (python3-yaml, a dependency of python3-optuna)
        except ImportError:
            self.skipTest("python3-yaml is not installed")

    def test_fidelity_takes_the_tasks_epochs_and_drops_the_median_rule(self):
        import yaml
        spec = yaml.safe_load(fb.hwnas_spec_text(self.BASE, "n", "random", 1,
                                                 "{kind: asha, min: 1, eta: 3}"))
        self.assertEqual(spec["fidelity"], {"kind": "asha", "min": 1, "eta": 3, "max": 9})
        self.assertNotIn("early_stopping", spec)
        self.assertNotIn("screen", spec)
        # An explicit max stays; without --fidelity the median rule stays.
        spec = yaml.safe_load(fb.hwnas_spec_text(self.BASE, "n", "random", 1,
                                                 "{kind: asha, max: 3}"))
        self.assertEqual(spec["fidelity"]["max"], 3)
        spec = yaml.safe_load(fb.hwnas_spec_text(self.BASE, "n", "random", 1, ""))
        self.assertEqual(spec["early_stopping"], {"rule": "median"})

    def test_screen_section(self):
        import yaml
        spec = yaml.safe_load(fb.hwnas_spec_text(self.BASE, "n", "random", 1, "",
                                                 "{proxy: synflow, keep: 0.5}"))
        self.assertEqual(spec["screen"], {"proxy": "synflow", "keep": 0.5})
        self.assertEqual(spec["early_stopping"], {"rule": "median"})


if __name__ == "__main__":
    unittest.main()
