// Bearer-token authentication for both services, with a short-lived cache so
// the hot paths (AcquireTrial, ReportProgress) do not hit the database on
// every call. Thread-safe.
#ifndef HWNAS_SERVER_AUTH_H_
#define HWNAS_SERVER_AUTH_H_

#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/records.h"
#include "db/store.h"

namespace hwnas::server {

class Authenticator {
 public:
  Authenticator(db::Store* store, absl::Duration cache_ttl = absl::Seconds(30));

  // `authorization` is the metadata value, "Bearer <token>". UNAUTHENTICATED
  // when missing, malformed, unknown or revoked.
  absl::StatusOr<User> Authenticate(absl::string_view authorization);

 private:
  struct Entry {
    User user;
    absl::Time expires;
  };
  db::Store* const store_;
  const absl::Duration ttl_;
  absl::Mutex mu_;
  // Keyed by the token itself: the cache lives only in this process's memory.
  absl::flat_hash_map<std::string, Entry> cache_ ABSL_GUARDED_BY(mu_);
};

}  // namespace hwnas::server

#endif  // HWNAS_SERVER_AUTH_H_
