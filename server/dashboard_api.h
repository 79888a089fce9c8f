// The live dashboard's JSON API and its single-page app, served on the
// server's HTTP listener (see docs/dashboard.md).
//
// Every /api/v1/ call authenticates with the gRPC API's tokens
// ("Authorization: Bearer <token>") and sees what SearchService would show
// that user: their own searches, or all for an admin. A bad or missing token
// is 401, a search that does not exist or is another user's is 404 (the same
// answer, so ids cannot be probed), and errors are one JSON line
// {"error": "..."}, never a stack trace or SQL.
//
// Queries are paged or bounded by the search's finished trials; Pareto
// fronts and best-so-far series are computed here in O(n log n).
//
// Thread-safe: handlers run on the listener's connection threads; the
// assets are read once, before Register().
#ifndef HWNAS_SERVER_DASHBOARD_API_H_
#define HWNAS_SERVER_DASHBOARD_API_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/records.h"
#include "db/dashboard_queries.h"
#include "db/store.h"
#include "server/auth.h"
#include "server/coordinator_types.h"
#include "server/http_server.h"

namespace hwnas::server {

// What the API needs from the rest of the server.
struct DashboardDeps {
  db::Store* store = nullptr;
  // Filtered trial pages and chart rows.
  db::DashboardQueries* queries = nullptr;
  Authenticator* auth = nullptr;
  // Cancels a search for `user` (the coordinator's Cancel, which also stops
  // its in-memory runtime). Visibility is checked before it is called.
  std::function<absl::StatusOr<SearchRecord>(const User& user, int64_t search_id)> cancel;
  // Enqueues architectures for `user` (the coordinator's AddGuided with
  // origin enqueued, as `hwnas enqueue`): all or nothing, errors name the line.
  std::function<absl::StatusOr<std::vector<TrialRecord>>(const User& user, int64_t search_id,
                                                         const std::vector<GuidedTrial>& items)>
      enqueue;
};

struct DashboardOptions {
  // The built single-page app (dashboard/dist: index.html and its assets).
  // Empty: the API only, and "/" says how to build the app.
  std::string assets_dir;
};

class DashboardApi {
 public:
  DashboardApi(DashboardDeps deps, DashboardOptions options);

  // Reads the app's files into memory (they are small). NOT_FOUND when
  // `assets_dir` is set but has no index.html.
  absl::Status LoadAssets();
  // Adds /api/v1/... and the app's files ("/" and below) to `http`. Call after
  // the server's own exact routes (/metrics...), which keep precedence.
  void Register(HttpServer& http);

  // The handlers, for tests that call them without sockets.
  HttpResponse Get(const HttpRequest& request);
  HttpResponse Post(const HttpRequest& request);

 private:
  HttpResponse Enqueue(const User& user, int64_t search_id, const std::string& body);
  HttpResponse Asset(const std::string& path) const;
  // A Pareto, best-so-far or (for a search that no longer runs) summary
  // answer (JSON text), kept while the search's state and finish sequence
  // number (db::SearchHead) are what they were when it was computed: a trial
  // that finishes changes them. Keyed by the call and its parameters.
  std::optional<std::string> CachedAnswer(const std::string& key, const std::string& version);
  void KeepAnswer(const std::string& key, const std::string& version, std::string body);

  DashboardDeps deps_;
  DashboardOptions options_;
  std::map<std::string, std::string> assets_;  // Path -> bytes; set before serving.
  absl::Mutex cache_mu_;
  // (key, (version, body)), newest last; 32 at most (a Pareto answer is
  // ~150 KB at 100,000 trials, thinned to one point per grid cell).
  std::deque<std::pair<std::string, std::pair<std::string, std::string>>> answers_
      ABSL_GUARDED_BY(cache_mu_);
};

}  // namespace hwnas::server

#endif  // HWNAS_SERVER_DASHBOARD_API_H_
