// A thin, synchronous client of hwnas.v1.SearchService that speaks domain
// types (common/records.h). Every call carries the bearer token and a
// deadline; gRPC errors come back as absl::Status with messages a user can
// act on (see errors.h). This is the seam for integration tests: build a
// Client on any channel, e.g. one to a server started on port 0.
//
// Thread-safety: all methods may be called concurrently; CancelWatch() is
// meant to be called from another thread while WatchSearch() blocks.
#ifndef HWNAS_CLI_CLIENT_H_
#define HWNAS_CLI_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cli/config.h"
#include "cli/near_miss.h"
#include "common/records.h"
#include "common/trial.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "hwnas/v1/search_service.grpc.pb.h"

namespace hwnas::cli {

struct ClientOptions {
  std::string server;  // The address dialed; used in error messages.
  std::string token;   // Sent as "authorization: Bearer <token>" when not empty.
  absl::Duration timeout = absl::Seconds(30);  // Deadline of each unary call.
  // Deadline of a WatchSearch stream (it ends earlier when the search ends).
  absl::Duration watch_timeout = absl::Hours(24);
  // SubmitSearch is retried on UNAVAILABLE / DEADLINE_EXCEEDED with the same
  // idempotency key, so a retry never starts a second search.
  int submit_attempts = 3;
  absl::Duration submit_backoff = absl::Milliseconds(500);

  ClientOptions& set_server(std::string s) {
    server = std::move(s);
    return *this;
  }
  ClientOptions& set_token(std::string t) {
    token = std::move(t);
    return *this;
  }
  ClientOptions& set_timeout(absl::Duration d) {
    timeout = d;
    return *this;
  }
};

struct ListSearchesQuery {
  bool all_owners = false;           // Admins: every owner's searches.
  std::optional<SearchState> state;  // nullopt: every state.
  std::string owner;                 // Empty: the caller.
  int64_t limit = 0;                 // 0: every page.
};

struct ListTrialsQuery {
  std::optional<TrialState> state;  // nullopt: every state.
  TrialOrder order = TrialOrder::kNumber;
  int64_t limit = 0;  // 0: every page.
};

struct ParetoFront {
  std::vector<TrialRecord> trials;
  std::vector<std::string> metrics;  // The cost metrics it was computed over.
  double hypervolume = 0;
  // When nothing is feasible (trials empty): the least-violating trials.
  std::vector<NearMiss> least_violating;
};

// One architecture for EnqueueTrials / ImportTrials: the space's readable
// form or a token list, its source line (0: none) and, to import, its result.
struct GuidedRow {
  std::string architecture;
  int line = 0;
  std::optional<TrialResult> result;
};

enum class SearchEventKind {
  kUnspecified,
  kSnapshot,
  kTrialStarted,
  kTrialProgress,
  kTrialFinished,
  kSearchFinished,
};

struct SearchEvent {
  SearchEventKind kind = SearchEventKind::kUnspecified;
  SearchRecord search;  // Counts as of this event.
  std::optional<TrialRecord> trial;
  std::optional<EpochMetrics> progress;
};

SearchEvent FromProto(const hwnas::v1::SearchEvent& event);

// A channel for `config`: TLS with the CA file (or the system roots) when
// configured, plaintext otherwise. Fails when the CA file cannot be read.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ConnectionConfig& config);

class Client {
 public:
  Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options);
  // Dials `config` (see MakeChannel); the channel connects lazily.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(const ConnectionConfig& config);

  const ClientOptions& options() const { return options_; }

  absl::StatusOr<SearchRecord> SubmitSearch(const std::string& spec_yaml,
                                            const std::string& idempotency_key);
  absl::StatusOr<SearchRecord> GetSearch(int64_t search_id);
  absl::StatusOr<std::vector<SearchRecord>> ListSearches(const ListSearchesQuery& query);
  absl::StatusOr<SearchRecord> CancelSearch(int64_t search_id);
  absl::StatusOr<std::vector<TrialRecord>> ListTrials(int64_t search_id,
                                                      const ListTrialsQuery& query);
  absl::StatusOr<TrialRecord> GetTrial(int64_t search_id, int64_t number);
  // `metrics` empty: the search's constrained metrics.
  absl::StatusOr<ParetoFront> GetParetoFront(int64_t search_id,
                                             const std::vector<std::string>& metrics);

  // Architectures to run before the strategy's proposals (all or nothing).
  absl::StatusOr<std::vector<TrialRecord>> EnqueueTrials(int64_t search_id,
                                                         const std::vector<GuidedRow>& rows);
  // Results evaluated elsewhere, stored as finished trials (all or nothing).
  absl::StatusOr<std::vector<TrialRecord>> ImportTrials(int64_t search_id,
                                                        const std::vector<GuidedRow>& rows);

  // Streams events to `on_event` until the search finishes (OK), the callback
  // returns false (OK), the stream fails, or CancelWatch() is called
  // (CANCELLED).
  absl::Status WatchSearch(int64_t search_id,
                           const std::function<bool(const SearchEvent&)>& on_event);
  // Cancels an in-flight WatchSearch from another thread; a no-op otherwise.
  void CancelWatch();

 private:
  void Prepare(grpc::ClientContext& context, absl::Duration timeout) const;

  std::unique_ptr<hwnas::v1::SearchService::Stub> stub_;
  ClientOptions options_;
  absl::Mutex mu_;
  grpc::ClientContext* watch_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool watch_cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

// 32 random hex characters, for SubmitSearch's idempotency key.
std::string NewIdempotencyKey();

}  // namespace hwnas::cli

#endif  // HWNAS_CLI_CLIENT_H_
