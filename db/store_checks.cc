#include "db/store_checks.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"

namespace hwnas::db {

absl::Status CheckName(absl::string_view field, absl::string_view value) {
  if (value.size() > static_cast<size_t>(kMaxNameLength)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is longer than ", kMaxNameLength, " characters"));
  }
  for (char c : value) {
    if (static_cast<unsigned char>(c) < 0x20) {
      return absl::InvalidArgumentError(absl::StrCat(field, " contains a control character"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateArchitecture(const Architecture& a) {
  if (a.space.empty()) return absl::InvalidArgumentError("architecture.space is empty");
  HWNAS_RETURN_IF_ERROR(CheckName("architecture.space", a.space));
  if (a.tokens.empty()) return absl::InvalidArgumentError("architecture.tokens is empty");
  if (a.tokens.size() > static_cast<size_t>(kMaxTokens)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "architecture has ", a.tokens.size(), " tokens; at most ", kMaxTokens, " are accepted"));
  }
  if (a.readable.size() > 16384) {
    return absl::InvalidArgumentError("architecture.readable is longer than 16384 characters");
  }
  return absl::OkStatus();
}

absl::Status ValidateReward(const std::optional<double>& reward) {
  if (reward && (!std::isfinite(*reward) || std::fabs(*reward) > 1e15)) {
    return absl::InvalidArgumentError(
        absl::StrCat("reward = ", *reward, " is not a finite number"));
  }
  return absl::OkStatus();
}

absl::Status ValidateEpochMetrics(const EpochMetrics& m) {
  if (m.epoch < 0 || m.epoch > 1000000) {
    return absl::InvalidArgumentError(absl::StrCat("epoch = ", m.epoch, " is out of range"));
  }
  if (m.values.size() > static_cast<size_t>(kMaxMetricsPerEpoch)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "an epoch may carry at most ", kMaxMetricsPerEpoch, " metrics, got ", m.values.size()));
  }
  for (const auto& [name, value] : m.values) {
    if (name.empty() || name.size() > 64) {
      return absl::InvalidArgumentError("metric names must be 1 to 64 characters");
    }
    if (!std::isfinite(value) || std::fabs(value) > 1e15) {
      return absl::InvalidArgumentError(
          absl::StrCat("metric '", name, "' = ", value, " is not a finite number within 1e15"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateUserName(absl::string_view name) {
  if (name.empty() || name.size() > 64) {
    return absl::InvalidArgumentError("user name must be 1 to 64 characters");
  }
  for (char c : name) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '@' ||
          c == '-')) {
      return absl::InvalidArgumentError(
          absl::StrCat("user name '", name, "' may only contain letters, digits and _ . @ -"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateNewSearch(const NewSearch& s) {
  if (s.name.empty()) return absl::InvalidArgumentError("search name is empty");
  HWNAS_RETURN_IF_ERROR(CheckName("search name", s.name));
  HWNAS_RETURN_IF_ERROR(CheckName("search space", s.space));
  HWNAS_RETURN_IF_ERROR(CheckName("idempotency key", s.idempotency_key));
  if (s.budget <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("budget must be a positive number of trials, got ", s.budget));
  }
  if (!(s.weight > 0) || !std::isfinite(s.weight)) {
    return absl::InvalidArgumentError(absl::StrCat("weight must be positive, got ", s.weight));
  }
  if (s.spec_yaml.size() > static_cast<size_t>(kMaxSpecBytes)) {
    return absl::InvalidArgumentError("spec is larger than 1 MiB");
  }
  return absl::OkStatus();
}

absl::StatusOr<int> ValidateNewTrials(const std::vector<NewTrial>& trials) {
  int finished = 0;
  for (const NewTrial& t : trials) {
    HWNAS_RETURN_IF_ERROR(ValidateArchitecture(t.architecture));
    HWNAS_RETURN_IF_ERROR(ValidateReward(t.reward));
    if (t.result) HWNAS_RETURN_IF_ERROR(ValidateTrialResult(*t.result));
    if (t.state != TrialState::kPending && t.state != TrialState::kInfeasible &&
        t.state != TrialState::kSucceeded && t.state != TrialState::kFailed) {
      return absl::InvalidArgumentError(
          absl::StrCat("a new trial starts PENDING, INFEASIBLE, SUCCEEDED or FAILED, not ",
                       TrialStateName(t.state)));
    }
    // An imported trial carries its result and is never leased; an enqueued
    // one waits for a worker like a proposal (or is INFEASIBLE up front).
    if (t.origin == TrialOrigin::kImported && (t.state == TrialState::kPending || !t.result)) {
      return absl::InvalidArgumentError("an imported trial is stored finished, with its result");
    }
    if (t.rung < 0 || t.rung > 1000 || t.bracket < 0 || t.bracket > 1000 || t.epoch_target < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "a new trial's rung (", t.rung, "), bracket (", t.bracket, ") and epoch_target (",
          t.epoch_target, ") must be non-negative (rung and bracket at most 1000)"));
    }
    if (t.state != TrialState::kPending) ++finished;
  }
  return finished;
}

absl::Status ValidateTrialCheckpoint(const TrialCheckpoint& c, int64_t limit_bytes) {
  if (c.epochs <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("epochs must be positive, got ", c.epochs));
  }
  if (!std::isfinite(c.score)) {
    return absl::InvalidArgumentError(absl::StrCat("score must be finite, got ", c.score));
  }
  if (c.data.empty()) return absl::InvalidArgumentError("checkpoint data is empty");
  if (limit_bytes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("limit_bytes must be positive, got ", limit_bytes));
  }
  return absl::OkStatus();
}

absl::Status ValidateRungResult(const RungResult& r) {
  if (r.rung < 0 || r.rung > 1000) {
    return absl::InvalidArgumentError(
        absl::StrCat("rung must be between 0 and 1000, got ", r.rung));
  }
  if (r.epochs <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("epochs must be positive, got ", r.epochs));
  }
  if (!std::isfinite(r.score)) {
    return absl::InvalidArgumentError(absl::StrCat("score must be finite, got ", r.score));
  }
  return absl::OkStatus();
}

absl::Status ValidateCompletion(const TrialResult& result, TrialState final_state,
                                const std::optional<double>& reward) {
  HWNAS_RETURN_IF_ERROR(ValidateTrialResult(result));
  HWNAS_RETURN_IF_ERROR(ValidateReward(reward));
  if (final_state != TrialState::kSucceeded && final_state != TrialState::kEarlyStopped) {
    return absl::InvalidArgumentError("a completed trial is SUCCEEDED or EARLY_STOPPED");
  }
  return absl::OkStatus();
}

absl::Status ValidateFailure(absl::string_view reason, const std::optional<TrialResult>& partial,
                             const std::optional<double>& reward) {
  if (partial) HWNAS_RETURN_IF_ERROR(ValidateTrialResult(*partial));
  HWNAS_RETURN_IF_ERROR(ValidateReward(reward));
  if (reason.size() > 4096) return absl::InvalidArgumentError("failure reason is over 4096 bytes");
  return absl::OkStatus();
}

absl::Status ValidateFinalSearchState(SearchState state) {
  if (state != SearchState::kCompleted && state != SearchState::kCancelled &&
      state != SearchState::kFailed) {
    return absl::InvalidArgumentError("a search can only finish as COMPLETED, CANCELLED or FAILED");
  }
  return absl::OkStatus();
}

absl::Status ValidateWorker(const WorkerRecord& w) {
  if (w.owner_id <= 0) return absl::InvalidArgumentError("worker has no owner");
  if (w.name.empty()) return absl::InvalidArgumentError("worker name is empty");
  HWNAS_RETURN_IF_ERROR(CheckName("worker name", w.name));
  for (const std::vector<std::string>* list : {&w.datasets, &w.search_spaces, &w.evaluators}) {
    if (list->size() > 64) return absl::InvalidArgumentError("a capability list has over 64 items");
    for (const std::string& item : *list) HWNAS_RETURN_IF_ERROR(CheckName("capability", item));
  }
  for (const std::string* field : {&w.device_kind, &w.device_tag, &w.version, &w.hostname}) {
    HWNAS_RETURN_IF_ERROR(CheckName("worker field", *field));
  }
  return absl::OkStatus();
}

absl::Status ValidateEvent(absl::string_view kind, absl::string_view payload_json) {
  if (kind.empty()) return absl::InvalidArgumentError("event kind is empty");
  HWNAS_RETURN_IF_ERROR(CheckName("event kind", kind));
  if (!nlohmann::json::accept(payload_json.begin(), payload_json.end())) {
    return absl::InvalidArgumentError("event payload is not valid JSON");
  }
  return absl::OkStatus();
}

absl::Status ValidateTtl(absl::Duration ttl) {
  if (ttl <= absl::ZeroDuration()) return absl::InvalidArgumentError("lease ttl must be > 0");
  return absl::OkStatus();
}

absl::StatusOr<int> ParsePageToken(const std::string& token) {
  if (token.empty()) return 0;
  int offset = 0;
  if (!absl::SimpleAtoi(token, &offset) || offset < 0) {
    return absl::InvalidArgumentError(absl::StrCat("page_token '", token, "' is invalid"));
  }
  return offset;
}

int PageLimit(int page_size, int default_size) {
  return std::clamp(page_size <= 0 ? default_size : page_size, 1, 1000);
}

std::string Sha256(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(digest), len);
}

std::string RandomToken() {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;  // getrandom(2) on Linux.
  std::uniform_int_distribution<int> pick(0, 61);
  std::string token = "hwn_";
  for (int i = 0; i < 40; ++i) token.push_back(kAlphabet[pick(rd)]);
  return token;
}

std::string NewWorkerId() { return absl::StrCat("w-", RandomToken().substr(4, 12)); }

absl::Status LeaseNotHeld(absl::string_view lease_id) {
  return absl::FailedPreconditionError(
      absl::StrCat("lease ", lease_id,
                   " is not held: it expired and the trial went to another worker, "
                   "or it never existed"));
}

absl::Status LeaseHeldByAnother(absl::string_view lease_id) {
  return absl::PermissionDeniedError(
      absl::StrCat("lease ", lease_id, " is held by another worker"));
}

absl::Status LeaseLost(absl::string_view lease_id) {
  return absl::FailedPreconditionError(absl::StrCat(
      "lease ", lease_id, " is no longer held: it expired and the trial was requeued"));
}

absl::Status LeaseCancelled(absl::string_view lease_id) {
  return absl::FailedPreconditionError(absl::StrCat(
      "lease ", lease_id, ": the trial was cancelled with its search; the result is not stored"));
}

}  // namespace hwnas::db
