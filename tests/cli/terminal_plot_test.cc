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
