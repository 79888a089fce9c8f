// Terminal scatter plot, progress bar, per-event lines and the summary:
// exact strings for fixed inputs.
#include "cli/terminal_plot.h"

#include "gtest/gtest.h"
#include "tests/cli/test_data.h"

namespace hwnas::cli {
namespace {

using testing::MakeSearch;
using testing::MakeTrials;
using testing::T0;

TEST(RenderScatter, PlacesMarkersAndAxes) {
  TerminalPlotOptions options;
  options.width = 11;
  options.height = 5;
  options.x_label = "lat";
  options.y_label = "acc";
  std::string plot = RenderScatter({{0, 0, 'a'}, {10, 1, 'b'}, {5, 0.5, 'c'}}, options);
  EXPECT_EQ(plot,
            "           acc\n"
            "        1 |          b\n"
            "          |\n"
            "      0.5 |     c\n"
            "          |\n"
            "        0 |a\n"
            "          +-----------\n"
            "           0        10\n"
            "               lat\n");
}

TEST(RenderScatter, WideAxisHasMiddleTickAndLaterPointsWin) {
  TerminalPlotOptions options;
  options.width = 30;
  options.height = 3;
  options.legend = "* front";
  std::string plot = RenderScatter({{0, 2, '.'}, {0, 2, '*'}, {100, 4, '.'}}, options);
  EXPECT_EQ(plot,
            "        4 |                             .\n"
            "          |\n"
            "        2 |*\n"
            "          +------------------------------\n"
            "           0            50            100\n"
            "           * front\n");
}

TEST(RenderScatter, SinglePointAndEmpty) {
  EXPECT_EQ(RenderScatter({}, TerminalPlotOptions()), "(no points to plot)\n");
  TerminalPlotOptions options;
  options.width = 9;
  options.height = 3;
  // One point: the range is padded by 5% around it and the point is centred.
  EXPECT_EQ(RenderScatter({{20, 0.5, '*'}}, options),
            "    0.525 |\n"
            "          |    *\n"
            "    0.475 |\n"
            "          +---------\n"
            "           19     21\n");
}

TEST(RenderProgressLine, CountsBestAndEta) {
  SearchRecord s = MakeSearch();
  EXPECT_EQ(RenderProgressLine(s, T0() + absl::Seconds(100), {"latency_ms", "flash_bytes"}, 10),
            "[#####-----] 5/10  running 2  failed 1  infeasible 1  best 0.8800 (acc 0.9000, "
            "latency_ms 20.00, flash_bytes 586KiB)  ETA 1m40s");
  s.counts = TrialCounts();
  s.best_trial.reset();
  EXPECT_EQ(RenderProgressLine(s, T0() + absl::Seconds(5), {}, 4),
            "[----] 0/10  running 0  failed 0  infeasible 0  best -  ETA -");
  s = MakeSearch();
  s.state = SearchState::kCompleted;
  s.counts.succeeded = 8;
  EXPECT_EQ(RenderProgressLine(s, T0(), {}, 4),
            "[####] 10/10  running 2  failed 1  infeasible 1  best 0.8800 (acc 0.9000)  "
            "COMPLETED");
  // Waiting for a worker that can run it replaces the ETA.
  s = MakeSearch();
  s.waiting = "no worker is connected";
  EXPECT_EQ(RenderProgressLine(s, T0() + absl::Seconds(100), {}, 4),
            "[##--] 5/10  running 2  failed 1  infeasible 1  best 0.8800 (acc 0.9000)  "
            "waiting: no worker is connected");
}

TEST(EstimateRemaining, ExtrapolatesFinishRate) {
  SearchRecord s = MakeSearch();  // 5 of 10 finished.
  EXPECT_EQ(EstimateRemaining(s, T0() + absl::Minutes(10)), absl::Minutes(10));
  EXPECT_EQ(EstimateRemaining(s, T0()), std::nullopt);
  s.state = SearchState::kCancelled;
  EXPECT_EQ(EstimateRemaining(s, T0() + absl::Minutes(10)), std::nullopt);
}

scheduler::FidelityOptions Asha(int min, int max, int eta) {
  scheduler::FidelityOptions o;
  o.kind = scheduler::FidelityKind::kAsha;
  o.min = min;
  o.max = max;
  o.eta = eta;
  return o;
}

TEST(PlannedEpochs, CountsTheRungsAPromotedTrialResumesOn) {
  // Rungs 1, 3: 9 trials x 1 epoch, then 3 of them 2 more epochs each.
  EXPECT_EQ(PlannedEpochs(Asha(1, 3, 3), 9), 9 + 3 * 2);
  // Rungs 1, 3, 9: 27 x 1, 9 x 2, 3 x 6.
  EXPECT_EQ(PlannedEpochs(Asha(1, 9, 3), 27), 27 + 18 + 18);
  // Not trials x full epochs (27 x 9 = 243).
  EXPECT_LT(PlannedEpochs(Asha(1, 9, 3), 27), 27 * 9);
  // Without fidelity every trial trains the full schedule.
  scheduler::FidelityOptions none;
  none.max = 5;
  EXPECT_EQ(PlannedEpochs(none, 10), 50);
  EXPECT_EQ(PlannedEpochs(Asha(1, 3, 3), 0), 0);
  // Hyperband: every bracket's trials start on its own rung (bracket 1 of
  // rungs 1, 3 trains 3 epochs straight away), so more than ASHA's plan.
  scheduler::FidelityOptions hb = Asha(1, 3, 3);
  hb.kind = scheduler::FidelityKind::kHyperband;
  int64_t expected = 0;
  int64_t in_bracket0 = 0;
  for (int64_t i = 0; i < 12; ++i) {
    const int b = scheduler::BracketForTrial(hb, i);
    expected += b == 0 ? 1 : 3;
    in_bracket0 += b == 0 ? 1 : 0;
  }
  expected += (in_bracket0 / 3) * 2;
  EXPECT_EQ(PlannedEpochs(hb, 12), expected);
  EXPECT_GT(PlannedEpochs(hb, 12), PlannedEpochs(Asha(1, 3, 3), 12));
}

TEST(EpochLedger, CountsFinishedRungsAndPromotions) {
  EpochLedger ledger(Asha(1, 3, 3), 9);  // 15 epochs planned.
  EXPECT_EQ(ledger.progress().planned, 15);
  EXPECT_EQ(ledger.progress().done, 0);
  TrialRecord t;
  t.number = 1;
  t.state = TrialState::kSucceeded;
  t.rung = 0;
  t.epoch_target = 1;
  t.result = TrialResult();
  t.result->epochs = 1;
  ledger.Add(t);
  EXPECT_EQ(ledger.progress().done, 1);
  // Promoted: back in the queue on rung 1; its rung 0 is still done.
  t.state = TrialState::kPending;
  t.rung = 1;
  t.epoch_target = 3;
  ledger.Add(t);
  EXPECT_EQ(ledger.progress().done, 1);
  // Rung 1 done: 3 epochs in all, not 1 + 3.
  t.state = TrialState::kSucceeded;
  t.result->epochs = 3;
  ledger.Add(t);
  EXPECT_EQ(ledger.progress().done, 3);
  // A failed trial will not train on: its rung counts as done.
  TrialRecord f;
  f.number = 2;
  f.state = TrialState::kFailed;
  f.epoch_target = 1;
  ledger.Add(f);
  // A pending one has trained nothing; a cancelled one never counts.
  TrialRecord p;
  p.number = 3;
  p.state = TrialState::kPending;
  p.epoch_target = 1;
  ledger.Add(p);
  p.number = 4;
  p.state = TrialState::kCancelled;
  ledger.Add(p);
  EXPECT_EQ(ledger.progress().done, 4);
}

TEST(EstimateRemaining, CountsEpochsLeftUnderTheFidelityPlan) {
  SearchRecord s = MakeSearch();  // 5 of 10 trials finished.
  // 10 of 40 planned epochs in 10 minutes: 30 minutes to go, whatever the
  // trial count says.
  EpochProgress epochs{.planned = 40, .done = 10};
  EXPECT_EQ(EstimateRemaining(s, T0() + absl::Minutes(10), epochs), absl::Minutes(30));
  EXPECT_EQ(EstimateRemaining(s, T0() + absl::Minutes(10), EpochProgress{.planned = 40}),
            std::nullopt);
  EXPECT_EQ(RenderProgressLine(s, T0() + absl::Minutes(10), {}, 4, epochs),
            "[##--] 5/10  running 2  failed 1  infeasible 1  best 0.8800 (acc 0.9000)  "
            "epochs 10/40  ETA 30m00s");
}

TEST(RenderEventLine, OneLinePerEventKind) {
  auto trials = MakeTrials();
  SearchEvent e;
  e.search = MakeSearch();
  e.kind = SearchEventKind::kSnapshot;
  EXPECT_EQ(RenderEventLine(e, {"latency_ms"}),
            "search 7 RUNNING: 5/10 finished, 2 running, 1 failed, 1 infeasible; best 0.8800 "
            "(acc 0.9000, latency_ms 20.00)");
  e.search.waiting = "no worker is connected";
  EXPECT_EQ(RenderEventLine(e, {}),
            "search 7 RUNNING: 5/10 finished, 2 running, 1 failed, 1 infeasible; best 0.8800 "
            "(acc 0.9000); waiting: no worker is connected");
  e.search.waiting.clear();
  e.kind = SearchEventKind::kTrialStarted;
  // Only the running count changed: no trial with the event.
  EXPECT_EQ(RenderEventLine(e, {}), "search 7: 2 running (5/10)");
  e.trial = trials[2];
  EXPECT_EQ(RenderEventLine(e, {}),
            "trial 3 started on w-1: r1_k3_s11_e1_i32_o16 r2_k3_s22_e6_i16_o24_se0.25");
  e.kind = SearchEventKind::kTrialProgress;
  e.progress = EpochMetrics{2, {{"train_loss", 0.41}, {"val_accuracy", 0.8612}}};
  EXPECT_EQ(RenderEventLine(e, {}), "trial 3 epoch 2: train_loss=0.41 val_accuracy=0.8612");
  e.kind = SearchEventKind::kTrialFinished;
  e.progress.reset();
  EXPECT_EQ(RenderEventLine(e, {"latency_ms"}),
            "trial 3 SUCCEEDED: reward 0.8100 accuracy 0.8500 latency_ms 30.00 (5/10)");
  e.trial = trials[3];
  EXPECT_EQ(RenderEventLine(e, {"flash_bytes"}),
            "trial 4 INFEASIBLE: flash_bytes = 2e6 > max 1e6 reward 0.0000 flash_bytes 1.91MiB "
            "(5/10)");
  e.trial = trials[4];
  EXPECT_EQ(RenderEventLine(e, {"latency_ms"}),
            "trial 5 FAILED: worker lost: out of memory (5/10)");
  e.kind = SearchEventKind::kSearchFinished;
  e.search.state = SearchState::kFailed;
  e.search.error = "strategy crashed";
  EXPECT_EQ(RenderEventLine(e, {}), "search 7 FAILED (5/10): strategy crashed");
}

TEST(RenderEventLine, RungResultsAndPromotions) {
  auto trials = MakeTrials();
  SearchEvent e;
  e.search = MakeSearch();
  e.kind = SearchEventKind::kTrialFinished;
  // A multi-fidelity trial streamed after its promotion: back in the queue
  // on rung 1, still carrying its rung-0 result.
  TrialRecord t = trials[2];
  t.state = TrialState::kPending;
  t.rung = 1;
  t.epoch_target = 3;
  t.result->epochs = 1;
  e.trial = t;
  EXPECT_EQ(PromotionLine(t),
            "trial 3 promoted to rung 1: trains on to 3 epochs (rung 0: "
            "accuracy 0.8500 after 1 epochs)");
  EXPECT_EQ(RenderEventLine(e, {}),
            "trial 3 promoted to rung 1: trains on to 3 epochs (rung 0: accuracy 0.8500 after 1 "
            "epochs) (5/10)");
  // Its top rung's result: finished, with the rung and epochs.
  t.state = TrialState::kSucceeded;
  t.result->epochs = 3;
  e.trial = t;
  EXPECT_EQ(PromotionLine(t), std::nullopt);
  EXPECT_EQ(RenderEventLine(e, {}),
            "trial 3 SUCCEEDED on rung 1 (3/3 epochs): reward 0.8100 accuracy 0.8500 (5/10)");
  // Without fidelity nothing changes.
  EXPECT_EQ(PromotionLine(trials[2]), std::nullopt);
}

TEST(RenderEventLine, ScreenDecisionsAreTheirOwnLines) {
  std::vector<TrialRecord> trials = MakeTrials();
  SearchEvent e;
  e.search = MakeSearch();
  e.kind = SearchEventKind::kTrialFinished;
  // Passed: back in the queue to train, the proxy score shown.
  TrialRecord t = trials[2];
  t.state = TrialState::kPending;
  t.screen = ScreenStage::kPassed;
  t.screen_score = 312.5;
  e.trial = t;
  EXPECT_EQ(RenderEventLine(e, {}),
            "trial 3 passed the screen (proxy score 312.5): trains next (5/10)");
  // Its training's result: the usual line.
  t.state = TrialState::kSucceeded;
  EXPECT_EQ(ScreenLine(t), std::nullopt);
  // Screened out: the reason, never trained.
  t.state = TrialState::kEarlyStopped;
  t.screen = ScreenStage::kOut;
  t.failure_reason =
      "screened_out: synflow score 2 below the threshold 9 (top 1 of 4 screened, keep 0.25)";
  e.trial = t;
  EXPECT_EQ(
      RenderEventLine(e, {}),
      "trial 3 screened out, never trained: screened_out: synflow score 2 below the threshold "
      "9 (top 1 of 4 screened, keep 0.25) (5/10)");
  // Not screened: nothing.
  EXPECT_EQ(ScreenLine(trials[2]), std::nullopt);
}

TEST(RenderSummary, StateCountsAndBest) {
  SearchRecord s = MakeSearch();
  s.state = SearchState::kCompleted;
  s.finished_at = T0() + absl::Seconds(512);
  EXPECT_EQ(RenderSummary(s, T0() + absl::Hours(1), {"latency_ms"}),
            "search 7 \"fmnist-mcu\" COMPLETED after 8m32s\n"
            "  trials: 5/10 finished (3 succeeded, 1 failed, 1 infeasible, 0 early stopped)\n"
            "  best: trial 2 reward 0.8800 accuracy 0.9000 latency_ms 20.00\n"
            "        r1_k3_s11_e1_i32_o16 r2_k3_s22_e6_i16_o24_se0.25\n");
}

}  // namespace
}  // namespace hwnas::cli
