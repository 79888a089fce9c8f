#include "server/auth.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace hwnas::server {

Authenticator::Authenticator(db::Store* store, absl::Duration cache_ttl, const Clock& clock)
    : store_(store), ttl_(cache_ttl), clock_(clock) {}

void Authenticator::SetNotReady(std::string why) {
  absl::MutexLock lock(&mu_);
  ready_ = false;
  not_ready_why_ = std::move(why);
}

void Authenticator::SetReady() {
  absl::MutexLock lock(&mu_);
  ready_ = true;
  not_ready_why_.clear();
}

void Authenticator::InvalidateAll() {
  absl::MutexLock lock(&mu_);
  cache_.clear();
  ++generation_;
}

absl::StatusOr<User> Authenticator::Authenticate(absl::string_view authorization) {
  {
    absl::MutexLock lock(&mu_);
    if (!ready_) {
      return absl::UnavailableError(absl::StrCat("server is starting: ", not_ready_why_));
    }
  }
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "no API token: send the metadata 'authorization: Bearer <token>' (hwnas --token or "
        "HWNAS_TOKEN)");
  }
  absl::string_view token = authorization;
  if (!absl::ConsumePrefix(&token, "Bearer ") && !absl::ConsumePrefix(&token, "bearer ")) {
    return absl::UnauthenticatedError("the authorization metadata must read 'Bearer <token>'");
  }
  token = absl::StripAsciiWhitespace(token);
  const std::string key(token);
  const absl::Time now = clock_.Now();
  uint64_t generation = 0;
  {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && it->second.expires > now) return it->second.user;
    generation = generation_;
  }
  absl::StatusOr<User> user = store_->Authenticate(token);
  if (!user.ok()) return user.status();
  absl::MutexLock lock(&mu_);
  if (generation != generation_) return user;  // Answered, but not cached.
  if (cache_.size() > 10000) cache_.clear();   // Bounded: tokens are few in practice.
  cache_[key] = Entry{*user, now + ttl_};
  return user;
}

}  // namespace hwnas::server
