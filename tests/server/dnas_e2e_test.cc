// Differentiable search as a server job, end to end: real PostgreSQL, the
// real hwnas-server and hwnas-worker processes, a real supernet trained on a
// Fashion-MNIST subset. The worker running the job is killed (SIGKILL) once
// epoch 1's checkpoint is stored and the server is restarted; the next
// worker gets the job with that checkpoint and resumes at epoch 2 (no epoch
// twice, none from scratch); the architectures it finds are trained
// stand-alone as trials of origin dnas, and the search completes.
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "hwnas/v1/search_service.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/server/cluster.h"
#include "tests/testing/test_paths.h"

namespace hwnas::testing {
namespace {

using ::testing::HasSubstr;

// The worker tests' tiny supernet (tests/worker/testdata/fashion_dnas.yaml):
// 3 epochs, K = 2, so the budget is the job and its 2 trials.
std::string DnasSpec() {
  return R"(
name: dnas-e2e
space:
  name: mnasnet
  blocks: 2
  filters: [8, 16]
  layers: [1, 2]
  strides: [2, 2]
  stem_filters: 8
  stem_stride: 2
  head_filters: 0
  dropout: 0
  quantize: true
  activation_bits: 8
data: {dataset: fashion_mnist, train_subset: 600, val_subset: 200, seed: 1}
training: {optimizer: sgd, lr: 0.05, momentum: 0.9, schedule: cosine, epochs: 1,
           batch_size: 32, threads: 1, seed: 3}
hardware:
  measure_latency: false
  targets:
    - {name: m7, mcu_profile: cortex-m7}
objectives:
  constraints:
    - {metric: latency_ms@m7, target: 5, type: soft}
  pareto_metrics: [latency_ms@m7]
strategy: {name: dnas, epochs: 3, tau: 5, tau_decay: 0.956, alpha: 0.2, beta: 0.6, k: 2}
budget: {trials: 3}
)";
}

int StoredEpoch(Cluster& c, int64_t search) {
  absl::StatusOr<std::optional<int>> stored = c.store().StoredCheckpointEpochs(search, 1);
  return stored.ok() && stored->has_value() ? **stored : 0;
}

TEST(DnasE2ETest, KilledJobResumesAtTheNextEpochAndItsArchitecturesAreTrained) {
  if (!std::filesystem::exists(FashionMnistDir())) {
    GTEST_SKIP() << "Fashion-MNIST is not installed (dataset-fashion-mnist)";
  }
  Cluster c;
  c.StartServer(/*lease_ttl_s=*/4);
  ChildProcess& w1 = c.StartWorker("w1");
  absl::StatusOr<hwnas::v1::Search> s = c.Submit(DnasSpec());
  ASSERT_OK(s);
  const int64_t id = s->id();

  // Killed once epoch 1 is stored, i.e. during epoch 2.
  ASSERT_TRUE(Cluster::Eventually([&] { return StoredEpoch(c, id) >= 1; }, absl::Minutes(6)))
      << c.Log("server.log") << c.Log("w1.log");
  w1.Signal(SIGKILL);
  w1.Wait(absl::Seconds(30));
  ASSERT_EQ(StoredEpoch(c, id), 1) << "the kill did not land in epoch 2";
  absl::StatusOr<std::optional<db::TrialCheckpoint>> stored = c.store().LoadTrialCheckpoint(id, 1);
  ASSERT_OK(stored);
  ASSERT_TRUE(stored->has_value());
  std::cout << "dnas job checkpoint after epoch 1: " << (*stored)->data.size() << " bytes\n";
  // The server restarts too: the job's state is in the database only.
  c.KillServer();
  c.StartServer(/*lease_ttl_s=*/4);
  // `hwnas watch`'s stream: the job's epochs arrive as progress events,
  // each once (epoch 1 from the log on the first poll, 2 and 3 as stored).
  std::vector<int> watched;
  grpc::ClientContext ctx;
  std::thread watcher([&] {
    std::unique_ptr<hwnas::v1::SearchService::Stub> stub =
        hwnas::v1::SearchService::NewStub(c.channel());
    ctx.AddMetadata("authorization", "Bearer " + c.alice());
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(12));
    hwnas::v1::WatchSearchRequest req;
    req.set_search_id(id);
    std::unique_ptr<grpc::ClientReader<hwnas::v1::SearchEvent>> reader =
        stub->WatchSearch(&ctx, req);
    hwnas::v1::SearchEvent e;
    while (reader->Read(&e)) {
      if (e.kind() != hwnas::v1::SearchEvent::KIND_TRIAL_PROGRESS) continue;
      watched.push_back(e.progress().epoch());
      EXPECT_EQ(e.trial().number(), 1);
      EXPECT_TRUE(e.progress().values().contains("expected_latency_ms"));
      EXPECT_TRUE(e.progress().values().contains("tau"));
    }
    EXPECT_TRUE(reader->Finish().ok());
  });
  c.StartWorker("w2");
  const bool completed = Cluster::Eventually(
      [&] { return c.Search(id).state == SearchState::kCompleted; }, absl::Minutes(10));
  if (!completed) ctx.TryCancel();
  watcher.join();
  ASSERT_TRUE(completed) << c.Log("server.log") << c.Log("w2.log");
  EXPECT_EQ(watched, (std::vector<int>{1, 2, 3}));

  // The job: one trial, leased twice, finished by the second worker.
  std::vector<TrialRecord> trials = c.Trials(id);
  ASSERT_EQ(trials.size(), 3u) << c.Log("w2.log");
  const TrialRecord& job = trials[0];
  EXPECT_EQ(job.origin, TrialOrigin::kDnasJob);
  EXPECT_EQ(job.state, TrialState::kSucceeded) << job.failure_reason;
  EXPECT_EQ(job.attempts, 2);
  // Its architectures, trained stand-alone on real data and measured.
  for (size_t i = 1; i < trials.size(); ++i) {
    const TrialRecord& t = trials[i];
    EXPECT_EQ(t.origin, TrialOrigin::kDnas) << "trial " << t.number;
    EXPECT_EQ(t.state, TrialState::kSucceeded) << "trial " << t.number << ": " << t.failure_reason;
    ASSERT_TRUE(t.result.has_value());
    EXPECT_EQ(t.result->epochs, 1);
    EXPECT_GT(t.result->accuracy, 0.0);
    EXPECT_TRUE(t.result->estimates.contains("latency_ms@m7"));
  }

  // Every epoch stored once, in order: epoch 1 by the first attempt, 2 and
  // 3 by the second, which resumed from epoch 1's checkpoint.
  absl::StatusOr<std::vector<db::Event>> events = c.store().ListEvents(id, 0, 1000);
  ASSERT_OK(events);
  std::vector<int> epochs, attempts;
  int candidates = 0;
  for (const db::Event& e : *events) {
    if (e.kind == "dnas_candidates") ++candidates;
    if (e.kind != "dnas_epoch") continue;
    const nlohmann::json p = nlohmann::json::parse(e.payload_json);
    epochs.push_back(p["epoch"].get<int>());
    attempts.push_back(p["attempt"].get<int>());
    EXPECT_TRUE(p.contains("train_loss")) << e.payload_json;
    EXPECT_TRUE(p.contains("expected_latency_ms")) << e.payload_json;
    EXPECT_TRUE(p.contains("tau")) << e.payload_json;
  }
  EXPECT_EQ(epochs, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(attempts, (std::vector<int>{1, 2, 2}));
  EXPECT_EQ(candidates, 1);
  EXPECT_THAT(c.Log("server.log"),
              HasSubstr("event=dnas_resume search=" + absl::StrCat(id) + " trial=1 after_epoch=1"));
  // The job's progress as `hwnas watch` shows it: one curve, epochs 1..3.
  absl::StatusOr<TrialRecord> full = c.store().GetTrial(id, 1, true);
  ASSERT_OK(full);
  std::vector<int> curve;
  for (const EpochMetrics& m : full->epochs) curve.push_back(m.epoch);
  EXPECT_EQ(curve, (std::vector<int>{1, 2, 3}));
  // Done: the checkpoint is deleted.
  EXPECT_EQ(StoredEpoch(c, id), 0);
}

// The temporal space as a server job (the worker tests' ECG5000 supernet,
// tests/worker/testdata/ecg_dnas.yaml, with K = 2): accepted at submit, the
// job runs on a worker and its architectures come back as canonical temporal
// token lists, trained stand-alone as trials of origin dnas.
TEST(DnasE2ETest, TemporalSearchRunsAsAJobOnEcg5000) {
  if (!std::filesystem::exists(SharedDataDir() + "/ecg5000/ECG5000_TRAIN.txt")) {
    GTEST_SKIP() << "ECG5000 is not in the shared data directory " << SharedDataDir();
  }
  Cluster c;
  c.StartServer(/*lease_ttl_s=*/4);
  c.StartWorker("w1");
  absl::StatusOr<hwnas::v1::Search> s = c.Submit(R"(
name: dnas-temporal-e2e
space: {name: temporal, conv_layers: 2, rnn_layers: 1, kernels: [3, 5], dilations: [1, 2],
        channels: [4, 8], hidden_sizes: [8, 16], activation_bits: 8}
data: {dataset: ecg5000, normalize: sample, test_fraction: 0.2, val_fraction: 0.2, seed: 1}
training: {optimizer: sgd, lr: 0.05, momentum: 0.9, schedule: cosine, epochs: 1,
           batch_size: 32, threads: 1, seed: 3}
hardware:
  measure_latency: false
  targets:
    - {name: m4, mcu_profile: cortex-m4}
objectives:
  constraints:
    - {metric: latency_ms@m4, target: 5, type: soft}
strategy: {name: dnas, epochs: 2, tau: 5, tau_decay: 0.956, alpha: 0.2, beta: 0.6, k: 2}
budget: {trials: 3}
)");
  ASSERT_OK(s);
  const int64_t id = s->id();
  ASSERT_TRUE(Cluster::Eventually([&] { return c.Search(id).state == SearchState::kCompleted; },
                                  absl::Minutes(8)))
      << c.Log("server.log") << c.Log("w1.log");
  std::vector<TrialRecord> trials = c.Trials(id);
  ASSERT_EQ(trials.size(), 3u) << c.Log("w1.log");
  EXPECT_EQ(trials[0].origin, TrialOrigin::kDnasJob);
  EXPECT_EQ(trials[0].state, TrialState::kSucceeded) << trials[0].failure_reason;
  for (size_t i = 1; i < trials.size(); ++i) {
    const TrialRecord& t = trials[i];
    EXPECT_EQ(t.origin, TrialOrigin::kDnas) << "trial " << t.number;
    EXPECT_EQ(t.architecture.space, "temporal");
    EXPECT_EQ(t.state, TrialState::kSucceeded) << "trial " << t.number << ": " << t.failure_reason;
    ASSERT_TRUE(t.result.has_value());
    EXPECT_GT(t.result->accuracy, 0.0);
    EXPECT_TRUE(t.result->estimates.contains("latency_ms@m4"));
  }
  EXPECT_NE(trials[1].architecture.tokens, trials[2].architecture.tokens);
}

}  // namespace
}  // namespace hwnas::testing
