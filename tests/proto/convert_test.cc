// Every converter round-trips: domain -> proto -> domain is the identity.
#include "proto/convert.h"

#include "gtest/gtest.h"

namespace hwnas::proto {
namespace {

TrialResult FullResult() {
  TrialResult r;
  r.accuracy = 0.875;
  r.loss = 0.31;
  r.latency = LatencyMeasurement{2.5, 3.25, 200, 1, "x86_64 cpu"};
  r.costs = HardwareCosts{12345, 6789012, 40960, 13000};
  r.estimates = {{"latency_ms@cortex-m7", 41.5}, {"energy_mj@cortex-m4", 2.25}};
  r.train_seconds = 12.5;
  r.epochs = 3;
  r.error = "";
  r.fold_accuracy = {0.85, 0.9, 0.875};
  r.accuracy_se = 0.0144;
  r.balanced_accuracy = 0.8125;
  r.macro_f1 = 0.0;  // Present though zero: optional, not defaulted.
  return r;
}

TrialRecord FullTrial() {
  TrialRecord t;
  t.search_id = 7;
  t.number = 42;
  t.architecture = Architecture{"mnasnet", 1, {0, 1, 2, 3, 4}, "r1_k3_s11_e1_i16_o16"};
  t.state = TrialState::kEarlyStopped;
  t.attempts = 2;
  t.worker_id = "w-abc";
  t.result = FullResult();
  t.reward = 0.8125;
  t.epochs = {EpochMetrics{1, {{"val_accuracy", 0.5}}}, EpochMetrics{2, {{"val_accuracy", 0.6}}}};
  t.failure_reason = "stopped below the median";
  t.created_at = absl::FromUnixMicros(1700000000123456);
  t.started_at = absl::FromUnixMicros(1700000001000000);
  t.finished_at = absl::FromUnixMicros(1700000099999999);
  return t;
}

TEST(ConvertTest, ArchitectureRoundTrips) {
  Architecture a{"nb201", 1, {3, 3, 4, 1, 3, 1}, "|nor_conv_3x3~0|+|...|"};
  EXPECT_EQ(FromProto(ToProto(a)), a);
}

TEST(ConvertTest, StatesRoundTripAndMatchTheProtoNumbers) {
  for (int i = 0; i <= 8; ++i) {
    TrialState s = static_cast<TrialState>(i);
    EXPECT_EQ(FromProto(ToProto(s)), s);
  }
  EXPECT_EQ(ToProto(TrialState::kInfeasible), hwnas::v1::TRIAL_STATE_INFEASIBLE);
  EXPECT_EQ(ToProto(TrialState::kCancelled), hwnas::v1::TRIAL_STATE_CANCELLED);
  EXPECT_EQ(FromProto(static_cast<hwnas::v1::TrialState>(77)), TrialState::kUnspecified);
  for (int i = 0; i <= 4; ++i) {
    SearchState s = static_cast<SearchState>(i);
    EXPECT_EQ(FromProto(ToProto(s)), s);
  }
  EXPECT_EQ(ToProto(SearchState::kCompleted), hwnas::v1::SEARCH_STATE_COMPLETED);
}

TEST(ConvertTest, ResultRoundTripsWithAndWithoutLatency) {
  TrialResult r = FullResult();
  EXPECT_EQ(FromProto(ToProto(r)), r);
  r.latency.reset();
  EXPECT_FALSE(ToProto(r).has_latency());
  EXPECT_EQ(FromProto(ToProto(r)), r);
  EXPECT_EQ(FromProto(ToProto(r.costs)), r.costs);
}

TEST(ConvertTest, EpochMetricsRoundTrip) {
  EpochMetrics m{3, {{"train_loss", 0.25}, {"val_accuracy", 0.75}}};
  EXPECT_EQ(FromProto(ToProto(m)), m);
}

TEST(ConvertTest, TrialRoundTrips) {
  TrialRecord t = FullTrial();
  TrialRecord back = FromProto(ToProto(t));
  EXPECT_EQ(back.search_id, t.search_id);
  EXPECT_EQ(back.number, t.number);
  EXPECT_EQ(back.architecture, t.architecture);
  EXPECT_EQ(back.state, t.state);
  EXPECT_EQ(back.attempts, t.attempts);
  EXPECT_EQ(back.worker_id, t.worker_id);
  EXPECT_EQ(back.result, t.result);
  EXPECT_EQ(back.reward, t.reward);
  EXPECT_EQ(back.epochs, t.epochs);
  EXPECT_EQ(back.failure_reason, t.failure_reason);
  EXPECT_EQ(back.created_at, t.created_at);
  EXPECT_EQ(back.started_at, t.started_at);
  EXPECT_EQ(back.finished_at, t.finished_at);
  // Optional parts stay absent.
  TrialRecord bare;
  bare.number = 1;
  TrialRecord bare_back = FromProto(ToProto(bare));
  EXPECT_FALSE(bare_back.result.has_value());
  EXPECT_FALSE(bare_back.reward.has_value());
  EXPECT_FALSE(bare_back.finished_at.has_value());
}

TEST(ConvertTest, SearchRoundTrips) {
  SearchRecord s;
  s.id = 9;
  s.name = "fmnist";
  s.owner = "alice";
  s.state = SearchState::kRunning;
  s.spec_yaml = "name: fmnist\n";
  s.space = "mnasnet";
  s.budget = 50;
  s.weight = 3;
  s.counts = TrialCounts{20, 4, 2, 10, 1, 1, 1, 1};
  s.best_trial = FullTrial();
  s.error = "";
  s.waiting = "no worker is connected";
  s.warm_start_search_id = 4;
  s.created_at = absl::FromUnixSeconds(1700000000);
  s.finished_at = absl::FromUnixSeconds(1700000500);
  SearchRecord back = FromProto(ToProto(s));
  EXPECT_EQ(back.waiting, s.waiting);
  EXPECT_EQ(back.warm_start_search_id, 4);
  EXPECT_EQ(back.id, s.id);
  EXPECT_EQ(back.name, s.name);
  EXPECT_EQ(back.owner, s.owner);
  EXPECT_EQ(back.state, s.state);
  EXPECT_EQ(back.spec_yaml, s.spec_yaml);
  EXPECT_EQ(back.budget, s.budget);
  EXPECT_EQ(back.weight, s.weight);
  EXPECT_EQ(back.counts.total, 20);
  EXPECT_EQ(back.counts.cancelled, 1);
  EXPECT_EQ(back.counts.finished(), s.counts.finished());
  ASSERT_TRUE(back.best_trial.has_value());
  EXPECT_EQ(back.best_trial->number, 42);
  EXPECT_EQ(back.created_at, s.created_at);
  EXPECT_EQ(back.finished_at, s.finished_at);
}

TEST(ConvertTest, WorkerCapabilitiesRoundTrip) {
  WorkerRecord w;
  w.device_kind = "cpu";
  w.device_tag = "raspi4-lab";
  w.threads = 4;
  w.gpu = false;
  w.datasets = {"fashion-mnist", "ecg5000"};
  w.search_spaces = {"mnasnet", "nb201"};
  w.evaluators = {"train", "table"};
  w.version = "0.1.0";
  w.hostname = "node-3";
  w.measure_mcus = {"cortex-m7", "cortex-m4"};
  WorkerRecord back = CapabilitiesFromProto(CapabilitiesToProto(w));
  EXPECT_EQ(back.measure_mcus, w.measure_mcus);
  EXPECT_EQ(back.device_tag, w.device_tag);
  EXPECT_EQ(back.threads, w.threads);
  EXPECT_EQ(back.datasets, w.datasets);
  EXPECT_EQ(back.search_spaces, w.search_spaces);
  EXPECT_EQ(back.evaluators, w.evaluators);
  EXPECT_EQ(back.version, w.version);
  EXPECT_EQ(back.hostname, w.hostname);
}

TEST(ConvertTest, TimesAndDurationsRoundTrip) {
  for (int64_t micros : {int64_t{0}, int64_t{1700000000123456}, int64_t{-1500000}}) {
    absl::Time t = absl::FromUnixMicros(micros);
    EXPECT_EQ(FromProto(ToProto(t)), t);
  }
  EXPECT_GE(ToProto(absl::FromUnixMicros(-1500000)).nanos(), 0);
  EXPECT_EQ(FromProto(ToProto(absl::Milliseconds(2500))), absl::Milliseconds(2500));
}

}  // namespace
}  // namespace hwnas::proto
