// Input checks and small helpers shared by the store implementations, so
// PostgreSQL and the in-memory store refuse the same input with the same
// INVALID_ARGUMENT message before anything is written. Internal to db/.
#ifndef HWNAS_DB_STORE_CHECKS_H_
#define HWNAS_DB_STORE_CHECKS_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/records.h"
#include "common/trial.h"
#include "db/store_types.h"

namespace hwnas::db {

// At most kMaxNameLength characters and no control characters.
absl::Status CheckName(absl::string_view field, absl::string_view value);
absl::Status ValidateArchitecture(const Architecture& a);
absl::Status ValidateReward(const std::optional<double>& reward);
absl::Status ValidateEpochMetrics(const EpochMetrics& m);

absl::Status ValidateUserName(absl::string_view name);
absl::Status ValidateNewSearch(const NewSearch& s);
// Checks every trial of a batch; returns how many start finished (not
// PENDING).
absl::StatusOr<int> ValidateNewTrials(const std::vector<NewTrial>& trials);
// Epochs > 0, a finite score, some data; a positive limit.
absl::Status ValidateTrialCheckpoint(const TrialCheckpoint& c, int64_t limit_bytes);
// Rung 0..1000, epochs > 0, a finite score.
absl::Status ValidateRungResult(const RungResult& r);
// A completion's final state, result and reward.
absl::Status ValidateCompletion(const TrialResult& result, TrialState final_state,
                                const std::optional<double>& reward);
absl::Status ValidateFailure(absl::string_view reason, const std::optional<TrialResult>& partial,
                             const std::optional<double>& reward);
absl::Status ValidateFinalSearchState(SearchState state);
absl::Status ValidateWorker(const WorkerRecord& w);
absl::Status ValidateEvent(absl::string_view kind, absl::string_view payload_json);
absl::Status ValidateTtl(absl::Duration ttl);

// Paging: the offset a page token stands for, and the clamped page size.
absl::StatusOr<int> ParsePageToken(const std::string& token);
int PageLimit(int page_size, int default_size);

// API tokens: a new random token ("hwn_" + 40 characters) and the SHA-256
// digest that is stored instead of it.
std::string RandomToken();
std::string Sha256(absl::string_view data);
// A new worker id ("w-" + 12 random characters).
std::string NewWorkerId();

// Lease refusals, worded alike by both stores.
absl::Status LeaseNotHeld(absl::string_view lease_id);
absl::Status LeaseHeldByAnother(absl::string_view lease_id);
absl::Status LeaseLost(absl::string_view lease_id);
absl::Status LeaseCancelled(absl::string_view lease_id);

}  // namespace hwnas::db

#endif  // HWNAS_DB_STORE_CHECKS_H_
