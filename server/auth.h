// Bearer-token authentication for both services, with a short-lived cache so
// the hot paths (AcquireTrial, ReportProgress) do not hit the database on
// every call. Thread-safe.
//
// Every call passes through Authenticate() first, so it also holds the
// server's readiness: until SetReady(), calls are answered UNAVAILABLE (the
// server is up but its database is not yet open and migrated), which
// clients and workers retry.
#ifndef HWNAS_SERVER_AUTH_H_
#define HWNAS_SERVER_AUTH_H_

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/records.h"
#include "db/store.h"

namespace hwnas::server {

class Authenticator {
 public:
  // A cached token is trusted for `cache_ttl` after the store last
  // confirmed it (by `clock`), unless InvalidateAll() runs first. Starts
  // ready.
  Authenticator(db::Store* store, absl::Duration cache_ttl = absl::Seconds(30),
                const Clock& clock = Clock::Real());

  // `authorization` is the metadata value, "Bearer <token>". UNAUTHENTICATED
  // when missing, malformed, unknown or revoked; UNAVAILABLE while not ready.
  absl::StatusOr<User> Authenticate(absl::string_view authorization);

  // Calls are refused UNAVAILABLE "server is starting: <why>" until SetReady().
  void SetNotReady(std::string why);
  void SetReady();

  // Forgets every cached token, so the next call of each asks the store: run
  // when tokens are revoked (and when revocations may have been missed).
  void InvalidateAll();

 private:
  struct Entry {
    User user;
    absl::Time expires;
  };
  db::Store* const store_;
  const absl::Duration ttl_;
  const Clock& clock_;
  absl::Mutex mu_;
  // Keyed by the token itself: the cache lives only in this process's memory.
  absl::flat_hash_map<std::string, Entry> cache_ ABSL_GUARDED_BY(mu_);
  bool ready_ ABSL_GUARDED_BY(mu_) = true;
  std::string not_ready_why_ ABSL_GUARDED_BY(mu_);
  // Bumped by InvalidateAll(): a store answer read before an invalidation
  // is not cached after it (it may predate the revocation).
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace hwnas::server

#endif  // HWNAS_SERVER_AUTH_H_
