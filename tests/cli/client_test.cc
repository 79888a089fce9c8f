// The Client and the commands end to end against an in-process fake
// SearchService on a loopback port (real gRPC, canned data). Tests against
// the real hwnas-server reuse the same pattern: point CliContext::connect
// (or a Client) at the server's channel.
#include "cli/client.h"

#include <map>
#include <memory>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "cli/app.h"
#include "cli/errors.h"
#include "common/subprocess.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "hwnas/v1/search_service.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "proto/convert.h"
#include "tests/cli/test_data.h"

namespace hwnas::cli {
namespace {

namespace v1 = ::hwnas::v1;
using testing::MakeSearch;
using testing::MakeTrials;

constexpr char kToken[] = "good-token";

// Serves search 7 and its five trials; checks the bearer token.
class FakeSearchService final : public v1::SearchService::Service {
 public:
  grpc::Status SubmitSearch(grpc::ServerContext* ctx, const v1::SubmitSearchRequest* req,
                            v1::SubmitSearchResponse* resp) override {
    if (auto s = Auth(ctx); !s.ok()) return s;
    absl::MutexLock lock(&mu_);
    idempotency_keys_.push_back(req->idempotency_key());
    if (absl::StrContains(req->spec_yaml(), "bogus")) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bogus: unknown key");
    }
    *resp->mutable_search() = proto::ToProto(MakeSearch());
    return grpc::Status::OK;
  }
  grpc::Status GetSearch(grpc::ServerContext* ctx, const v1::GetSearchRequest* req,
                         v1::Search* resp) override {
    if (auto s = Auth(ctx); !s.ok()) return s;
    if (req->search_id() == 8) {
      return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "search 8 belongs to bob");
    }
    if (req->search_id() != 7) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such search");
    *resp = proto::ToProto(Final());
    return grpc::Status::OK;
  }
  grpc::Status ListSearches(grpc::ServerContext* ctx, const v1::ListSearchesRequest* req,
                            v1::ListSearchesResponse* resp) override {
    if (auto s = Auth(ctx); !s.ok()) return s;
    {
      absl::MutexLock lock(&mu_);
      last_list_searches_ = *req;
    }
    // Three searches, ids 9, 8, 7, paged by page_size.
    int start = req->page_token().empty() ? 0 : std::stoi(req->page_token());
    int size = req->page_size() > 0 ? req->page_size() : 50;
    for (int i = start; i < 3 && i < start + size; ++i) {
      SearchRecord s = MakeSearch();
      s.id = 9 - i;
      *resp->add_searches() = proto::ToProto(s);
    }
    if (start + size < 3) resp->set_next_page_token(std::to_string(start + size));
    return grpc::Status::OK;
  }
  grpc::Status CancelSearch(grpc::ServerContext* ctx, const v1::CancelSearchRequest*,
                            v1::Search* resp) override {
    if (auto s = Auth(ctx); !s.ok()) return s;
    SearchRecord s = MakeSearch();
    s.state = SearchState::kCancelled;
    *resp = proto::ToProto(s);
    return grpc::Status::OK;
  }
  grpc::Status ListTrials(grpc::ServerContext* ctx, const v1::ListTrialsRequest* req,
                          v1::ListTrialsResponse* resp) override {
    if (auto s = Auth(ctx); !s.ok()) return s;
    {
      absl::MutexLock lock(&mu_);
      last_list_trials_ = *req;
      ++list_trials_calls_;
    }
    std::vector<TrialRecord> trials = MakeTrials();
    if (req->order() == v1::TRIAL_ORDER_REWARD_DESC) {
      std::stable_sort(trials.begin(), trials.end(), [](const auto& a, const auto& b) {
        return a.reward.value_or(-1) > b.reward.value_or(-1);
      });
    }
    std::vector<TrialRecord> filtered;
    for (const TrialRecord& t : trials) {
      if (req->state() == v1::TRIAL_STATE_UNSPECIFIED || proto::ToProto(t.state) == req->state()) {
        filtered.push_back(t);
      }
    }
    int start = req->page_token().empty() ? 0 : std::stoi(req->page_token());
    int size = req->page_size() > 0 ? req->page_size() : 100;
    for (int i = start; i < static_cast<int>(filtered.size()) && i < start + size; ++i) {
      v1::Trial* t = resp->add_trials();
      *t = proto::ToProto(filtered[i]);
      t->clear_epochs();  // Only GetTrial fills epochs.
    }
    if (start + size < static_cast<int>(filtered.size())) {
      resp->set_next_page_token(std::to_string(start + size));
    }
    return grpc::Status::OK;
  }
  grpc::Status GetTrial(grpc::ServerContext* ctx, const v1::GetTrialRequest* req,
                        v1::Trial* resp) override {
    if (auto s = Auth(ctx); !s.ok()) return s;
    if (req->number() < 1 || req->number() > 5) {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such trial");
    }
    *resp = proto::ToProto(MakeTrials()[req->number() - 1]);
    return grpc::Status::OK;
  }
  grpc::Status GetParetoFront(grpc::ServerContext* ctx, const v1::GetParetoFrontRequest* req,
                              v1::GetParetoFrontResponse* resp) override {
    if (auto s = Auth(ctx); !s.ok()) return s;
    auto trials = MakeTrials();
    *resp->add_trials() = proto::ToProto(trials[0]);
    *resp->add_trials() = proto::ToProto(trials[1]);
    if (req->metrics().empty()) {
      resp->add_metrics("latency_ms");
    } else {
      for (const std::string& m : req->metrics()) resp->add_metrics(m);
    }
    resp->set_hypervolume(0.5);
    return grpc::Status::OK;
  }
  grpc::Status WatchSearch(grpc::ServerContext* ctx, const v1::WatchSearchRequest* req,
                           grpc::ServerWriter<v1::SearchEvent>* writer) override {
    if (auto s = Auth(ctx); !s.ok()) return s;
    if (req->search_id() != 7) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such search");
    auto trials = MakeTrials();
    v1::SearchEvent e;
    e.set_kind(v1::SearchEvent::KIND_SNAPSHOT);
    *e.mutable_search() = proto::ToProto(MakeSearch());
    writer->Write(e);
    e.set_kind(v1::SearchEvent::KIND_TRIAL_PROGRESS);
    *e.mutable_trial() = proto::ToProto(trials[2]);
    *e.mutable_progress() = proto::ToProto(EpochMetrics{1, {{"val_accuracy", 0.75}}});
    writer->Write(e);
    e.clear_progress();
    e.set_kind(v1::SearchEvent::KIND_TRIAL_FINISHED);
    writer->Write(e);
    if (hang_watch_) {
      while (!ctx->IsCancelled()) absl::SleepFor(absl::Milliseconds(10));
      return grpc::Status::CANCELLED;
    }
    e.clear_trial();
    e.set_kind(v1::SearchEvent::KIND_SEARCH_FINISHED);
    *e.mutable_search() = proto::ToProto(Final());
    writer->Write(e);
    return grpc::Status::OK;
  }

  SearchRecord Final() const {
    SearchRecord s = MakeSearch();
    s.state = final_state_;
    s.counts.succeeded = final_succeeded_;
    s.counts.failed += 8 - final_succeeded_;
    s.counts.running = 0;
    s.finished_at = s.created_at + absl::Minutes(5);
    return s;
  }

  std::vector<std::string> idempotency_keys() {
    absl::MutexLock lock(&mu_);
    return idempotency_keys_;
  }
  v1::ListTrialsRequest last_list_trials() {
    absl::MutexLock lock(&mu_);
    return last_list_trials_;
  }
  v1::ListSearchesRequest last_list_searches() {
    absl::MutexLock lock(&mu_);
    return last_list_searches_;
  }

  SearchState final_state_ = SearchState::kCompleted;
  int final_succeeded_ = 8;
  std::atomic<bool> hang_watch_{false};

 private:
  static grpc::Status Auth(grpc::ServerContext* ctx) {
    auto it = ctx->client_metadata().find("authorization");
    if (it == ctx->client_metadata().end()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing token");
    }
    if (std::string(it->second.data(), it->second.size()) != absl::StrCat("Bearer ", kToken)) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "invalid token");
    }
    return grpc::Status::OK;
  }

  absl::Mutex mu_;
  std::vector<std::string> idempotency_keys_ ABSL_GUARDED_BY(mu_);
  v1::ListTrialsRequest last_list_trials_ ABSL_GUARDED_BY(mu_);
  v1::ListSearchesRequest last_list_searches_ ABSL_GUARDED_BY(mu_);
  int list_trials_calls_ ABSL_GUARDED_BY(mu_) = 0;
};

class CliAgainstFakeServer : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    address_ = absl::StrCat("127.0.0.1:", port_);
    ctx_ = DefaultContext();
    ctx_.out = &out_;
    ctx_.err = &err_;
    ctx_.env = [](absl::string_view) -> std::optional<std::string> { return std::nullopt; };
    ctx_.now = [] { return testing::T0() + absl::Minutes(10); };
    ctx_.new_idempotency_key = [] { return std::string("key-1"); };
    ctx_.read_file = [this](const std::string& path) -> absl::StatusOr<std::string> {
      auto it = files_.find(path);
      if (it == files_.end()) return LocalIoError(absl::StrCat("cannot read ", path));
      return it->second;
    };
    ctx_.write_file = [this](const std::string& path, const std::string& contents) {
      files_[path] = contents;
      return absl::OkStatus();
    };
  }
  void TearDown() override {
    if (server_) server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
  }

  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    std::vector<std::string> full = {"--server", address_, "--token", kToken};
    full.insert(full.end(), args.begin(), args.end());
    return RunCli(full, ctx_);
  }

  std::unique_ptr<Client> MakeClient(std::string token = kToken) {
    ClientOptions options;
    options.set_server(address_).set_token(std::move(token)).set_timeout(absl::Seconds(10));
    return std::make_unique<Client>(
        grpc::CreateChannel(address_, grpc::InsecureChannelCredentials()), options);
  }

  FakeSearchService service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string address_;
  std::ostringstream out_, err_;
  CliContext ctx_;
  std::map<std::string, std::string> files_;
};

TEST_F(CliAgainstFakeServer, ClientSpeaksDomainTypes) {
  auto client = MakeClient();
  auto search = client->GetSearch(7);
  ASSERT_TRUE(search.ok()) << search.status();
  EXPECT_EQ(search->name, "fmnist-mcu");
  EXPECT_EQ(search->counts.succeeded, 8);
  ASSERT_TRUE(search->best_trial.has_value());
  EXPECT_EQ(search->best_trial->number, 2);

  // Paging: page size 200 returns all three in one page; a limit stops early.
  auto all = client->ListSearches({.all_owners = true});
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->size(), 3u);
  EXPECT_TRUE(service_.last_list_searches().all_owners());
  auto two = client->ListSearches({.limit = 2});
  ASSERT_TRUE(two.ok());
  ASSERT_EQ(two->size(), 2u);
  EXPECT_EQ((*two)[1].id, 8);

  auto trials = client->ListTrials(7, {.state = TrialState::kSucceeded});
  ASSERT_TRUE(trials.ok());
  EXPECT_EQ(trials->size(), 3u);
  EXPECT_EQ(service_.last_list_trials().state(), v1::TRIAL_STATE_SUCCEEDED);
  auto top = client->ListTrials(7, {.order = TrialOrder::kRewardDesc, .limit = 1});
  ASSERT_TRUE(top.ok());
  ASSERT_EQ(top->size(), 1u);
  EXPECT_EQ((*top)[0].number, 2);
  EXPECT_EQ(service_.last_list_trials().page_size(), 1);

  auto trial = client->GetTrial(7, 2);
  ASSERT_TRUE(trial.ok());
  EXPECT_EQ(trial->epochs.size(), 2u);
  auto front = client->GetParetoFront(7, {"flash_bytes"});
  ASSERT_TRUE(front.ok());
  EXPECT_EQ(front->metrics, std::vector<std::string>{"flash_bytes"});
  EXPECT_EQ(front->trials.size(), 2u);
  EXPECT_DOUBLE_EQ(front->hypervolume, 0.5);

  auto submitted = client->SubmitSearch("name: x\n", "abc");
  ASSERT_TRUE(submitted.ok());
  EXPECT_EQ(service_.idempotency_keys(), std::vector<std::string>{"abc"});

  std::vector<SearchEventKind> kinds;
  absl::Status watched = client->WatchSearch(7, [&](const SearchEvent& e) {
    kinds.push_back(e.kind);
    return true;
  });
  EXPECT_TRUE(watched.ok()) << watched;
  EXPECT_EQ(kinds, (std::vector<SearchEventKind>{
                       SearchEventKind::kSnapshot, SearchEventKind::kTrialProgress,
                       SearchEventKind::kTrialFinished, SearchEventKind::kSearchFinished}));
}

TEST_F(CliAgainstFakeServer, ClientErrors) {
  auto bad = MakeClient("wrong")->GetSearch(7);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(ExitCodeFor(bad.status()), kExitAuth);
  auto missing = MakeClient()->GetSearch(99);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  auto denied = MakeClient()->GetSearch(8);
  EXPECT_EQ(ExitCodeFor(denied.status()), kExitAuth);
}

TEST_F(CliAgainstFakeServer, WatchCanBeCancelledFromAnotherThread) {
  service_.hang_watch_ = true;
  auto client = MakeClient();
  int events = 0;
  std::thread canceller;
  absl::Status s = client->WatchSearch(7, [&](const SearchEvent& e) {
    if (++events == 3) canceller = std::thread([&] { client->CancelWatch(); });
    (void)e;
    return true;
  });
  canceller.join();
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  EXPECT_EQ(events, 3);
}

TEST_F(CliAgainstFakeServer, SubmitPrintsIdAndSendsKey) {
  files_["spec.yaml"] = testing::kSpecYaml;
  EXPECT_EQ(Run({"submit", "-f", "spec.yaml"}), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(), "7\n");
  EXPECT_NE(err_.str().find("submitted search 7 (fmnist-mcu)"), std::string::npos);
  EXPECT_EQ(service_.idempotency_keys(), std::vector<std::string>{"key-1"});

  files_["bad.yaml"] = "bogus: 1\n";
  EXPECT_EQ(Run({"submit", "-f", "bad.yaml"}), kExitInvalid);
  EXPECT_NE(err_.str().find("the server rejected the spec bad.yaml:\n  bogus: unknown key"),
            std::string::npos)
      << err_.str();
  EXPECT_EQ(Run({"submit", "-f", "missing.yaml"}), kExitLocalIo);
  EXPECT_EQ(Run({"submit"}), kExitUsage);
}

TEST_F(CliAgainstFakeServer, SubmitAndWatchPlainLines) {
  files_["spec.yaml"] = testing::kSpecYaml;
  EXPECT_EQ(Run({"submit", "-f", "spec.yaml", "--watch"}), kExitOk) << err_.str();
  EXPECT_EQ(out_.str(),
            "7\n"
            "search 7 RUNNING: 5/10 finished, 2 running, 1 failed, 1 infeasible; best 0.8800 "
            "(acc 0.9000, latency_ms 20.00, flash_bytes 586KiB)\n"
            "trial 3 epoch 1: val_accuracy=0.75\n"
            "trial 3 SUCCEEDED: reward 0.8100 accuracy 0.8500 latency_ms 30.00 flash_bytes "
            "684KiB (5/10)\n"
            "search 7 COMPLETED (10/10)\n"
            "\n"
            "search 7 \"fmnist-mcu\" COMPLETED after 5m00s\n"
            "  trials: 10/10 finished (8 succeeded, 1 failed, 1 infeasible, 0 early stopped)\n"
            "  best: trial 2 reward 0.8800 accuracy 0.9000 latency_ms 20.00 flash_bytes 586KiB\n"
            "        r1_k3_s11_e1_i32_o16 r2_k3_s22_e6_i16_o24_se0.25\n");
}

TEST_F(CliAgainstFakeServer, WatchTtyDrawsProgressBarAndExitCodeReflectsState) {
  ctx_.stdout_is_tty = true;
  service_.final_state_ = SearchState::kCancelled;
  EXPECT_EQ(Run({"watch", "7"}), kExitSearchNotCompleted);
  EXPECT_NE(out_.str().find("\r\x1b[2K[############------------] 5/10  running 2"),
            std::string::npos)
      << out_.str();
  EXPECT_NE(out_.str().find("ETA 10m00s"), std::string::npos);
  EXPECT_NE(out_.str().find("search 7 \"fmnist-mcu\" CANCELLED"), std::string::npos);
  EXPECT_EQ(Run({"watch", "99"}), kExitInvalid);
  EXPECT_NE(err_.str().find("search 99: no such search"), std::string::npos);
}

// A search that completed with every trial failed is no success for a
// script running `hwnas submit --watch && ...`.
TEST_F(CliAgainstFakeServer, WatchOfASearchWithoutOneSuccessExitsFive) {
  service_.final_succeeded_ = 0;
  EXPECT_EQ(Run({"watch", "7"}), kExitSearchNotCompleted);
  EXPECT_NE(out_.str().find("search 7 \"fmnist-mcu\" COMPLETED"), std::string::npos) << out_.str();
  EXPECT_NE(err_.str().find("search 7 completed, but no trial succeeded"), std::string::npos)
      << err_.str();
}

// Flags but no command: a mistyped global flag is named, not reported as a
// missing command.
TEST_F(CliAgainstFakeServer, FlagsWithoutACommand) {
  EXPECT_EQ(Run({"--bogus"}), kExitUsage);
  EXPECT_NE(err_.str().find("unknown flag --bogus (before any command)"), std::string::npos)
      << err_.str();
  EXPECT_EQ(Run({"-o", "json"}), kExitUsage);
  EXPECT_NE(err_.str().find("no command given"), std::string::npos) << err_.str();
}

TEST_F(CliAgainstFakeServer, WatchStopsOnInterrupt) {
  service_.hang_watch_ = true;
  std::atomic<bool> interrupted{false};
  ctx_.interrupted = &interrupted;
  std::thread stopper([&] {
    absl::SleepFor(absl::Milliseconds(300));
    interrupted = true;
  });
  EXPECT_EQ(Run({"watch", "7"}), kExitInterrupted);
  stopper.join();
  EXPECT_NE(err_.str().find("keeps running on the server"), std::string::npos);
}

TEST_F(CliAgainstFakeServer, ListStatusCancelInEveryFormat) {
  EXPECT_EQ(Run({"ls", "--all", "--state", "running", "-o", "json"}), kExitOk) << err_.str();
  nlohmann::json j = nlohmann::json::parse(out_.str());
  ASSERT_EQ(j.size(), 3u);
  EXPECT_EQ(j[0]["id"], 9);
  EXPECT_EQ(service_.last_list_searches().state(), v1::SEARCH_STATE_RUNNING);
  EXPECT_TRUE(service_.last_list_searches().all_owners());
  EXPECT_EQ(Run({"ls", "-o", "csv", "--limit", "1"}), kExitOk);
  const std::string csv = out_.str();
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 2);  // Header and one row.
  EXPECT_EQ(Run({"ls", "--state", "sleeping"}), kExitUsage);

  EXPECT_EQ(Run({"status", "7"}), kExitOk);
  EXPECT_NE(out_.str().find("State:       COMPLETED"), std::string::npos);
  EXPECT_EQ(Run({"status", "7", "-o", "json"}), kExitOk);
  EXPECT_EQ(nlohmann::json::parse(out_.str())["trials"]["succeeded"], 8);
  EXPECT_EQ(Run({"status", "42"}), kExitInvalid);
  EXPECT_EQ(err_.str(), "hwnas: error: search 42: no such search\n");
  EXPECT_EQ(Run({"status", "8"}), kExitAuth);

  // The fake's search 7 has COMPLETED (GetSearch answers its final state).
  EXPECT_EQ(Run({"cancel", "7"}), kExitOk);
  EXPECT_EQ(out_.str(), "search 7 had already ended: COMPLETED\n");
}

TEST_F(CliAgainstFakeServer, TrialsSortFilterAndFormats) {
  EXPECT_EQ(Run({"trials", "7", "--sort", "flash_bytes", "--top", "2", "-o", "csv"}), kExitOk)
      << err_.str();
  std::vector<std::string> lines = absl::StrSplit(out_.str(), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_TRUE(absl::StartsWith(lines[1], "5,FAILED") || absl::StartsWith(lines[1], "1,"))
      << lines[1];
  // Trial 5 has no result, so it sorts last; smallest flash first: 1 then 2.
  EXPECT_TRUE(absl::StartsWith(lines[1], "1,SUCCEEDED")) << lines[1];
  EXPECT_TRUE(absl::StartsWith(lines[2], "2,SUCCEEDED")) << lines[2];

  EXPECT_EQ(Run({"trials", "7", "--sort", "reward", "--top", "1", "-o", "json"}), kExitOk);
  EXPECT_EQ(service_.last_list_trials().order(), v1::TRIAL_ORDER_REWARD_DESC);
  nlohmann::json j = nlohmann::json::parse(out_.str());
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["number"], 2);

  EXPECT_EQ(Run({"trials", "7", "--state", "infeasible"}), kExitOk);
  EXPECT_EQ(service_.last_list_trials().state(), v1::TRIAL_STATE_INFEASIBLE);
  EXPECT_NE(out_.str().find("INFEASIBLE"), std::string::npos);
  EXPECT_EQ(out_.str().find("SUCCEEDED"), std::string::npos);
  EXPECT_EQ(Run({"trials", "7", "--state", "DONE"}), kExitUsage);
}

TEST_F(CliAgainstFakeServer, ParetoTrialAndReport) {
  EXPECT_EQ(Run({"pareto", "7"}), kExitOk) << err_.str();
  EXPECT_NE(out_.str().find("Pareto front over accuracy and latency_ms: 2 trials"),
            std::string::npos);
  EXPECT_NE(out_.str().find("* Pareto front   . other trials   x infeasible"), std::string::npos);
  // The infeasible trial (5 ms, accuracy 0) is the bottom-left cross; the
  // best front point (0.9) is on the top row.
  EXPECT_NE(out_.str().find("        0 |x\n"), std::string::npos) << out_.str();
  EXPECT_NE(out_.str().find("      0.9 |                                   *\n"),
            std::string::npos);
  EXPECT_EQ(Run({"pareto", "7", "--x", "flash_bytes", "-o", "json"}), kExitOk);
  EXPECT_EQ(nlohmann::json::parse(out_.str())["metrics"][0], "flash_bytes");

  EXPECT_EQ(Run({"trial", "7", "2"}), kExitOk);
  EXPECT_NE(out_.str().find("Per-epoch metrics:"), std::string::npos);
  EXPECT_EQ(Run({"trial", "7", "9"}), kExitInvalid);
  EXPECT_NE(err_.str().find("trial 9 of search 7"), std::string::npos);

  EXPECT_EQ(Run({"report", "7", "-o", "r.html", "--svg", "front.svg", "--plot", "reward"}), kExitOk)
      << err_.str();
  ASSERT_TRUE(files_.count("r.html"));
  EXPECT_NE(files_["r.html"].find("hwnas search 7: fmnist-mcu"), std::string::npos);
  ASSERT_TRUE(files_.count("front.svg"));
  EXPECT_NE(files_["front.svg"].find("Reward by trial"), std::string::npos);
  EXPECT_EQ(Run({"report", "7"}), kExitOk);
  EXPECT_TRUE(files_.count("report-7.html"));
  EXPECT_EQ(Run({"report", "7", "--plot", "pie"}), kExitUsage);
}

TEST_F(CliAgainstFakeServer, AuthErrorsAreClear) {
  out_.str("");
  err_.str("");
  int code = RunCli({"--server", address_, "--token", "nope", "ls"}, ctx_);
  EXPECT_EQ(code, kExitAuth);
  EXPECT_NE(err_.str().find("did not accept the credentials: invalid token"), std::string::npos)
      << err_.str();
  err_.str("");
  EXPECT_EQ(RunCli({"--server", address_, "ls"}, ctx_), kExitAuth);
  EXPECT_NE(err_.str().find("missing token"), std::string::npos);
}

TEST(CliUnreachable, ExitCodeFourAndClearMessage) {
  auto port = PickFreePort();
  ASSERT_TRUE(port.ok());
  std::ostringstream out, err;
  CliContext ctx = DefaultContext();
  ctx.out = &out;
  ctx.err = &err;
  ctx.env = [](absl::string_view) -> std::optional<std::string> { return std::nullopt; };
  const std::string address = absl::StrCat("127.0.0.1:", *port);
  EXPECT_EQ(RunCli({"--server", address, "--timeout", "5s", "ls"}, ctx), kExitUnreachable);
  EXPECT_NE(err.str().find(absl::StrCat("cannot reach the server at ", address)), std::string::npos)
      << err.str();
}

}  // namespace
}  // namespace hwnas::cli
