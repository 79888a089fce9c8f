// The events of a watched search (WatchSearch), on domain structs: a
// snapshot first, then trial events as the store shows them, then
// SEARCH_FINISHED. The gRPC reactor polls this and only translates the
// events to protobuf and writes them.
#ifndef HWNAS_SERVER_WATCH_SOURCE_H_
#define HWNAS_SERVER_WATCH_SOURCE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/records.h"
#include "server/search_directory.h"

namespace hwnas::server {

struct WatchEvent {
  // kTrialProgress: an epoch of a dnas search's supernet job (`progress`).
  enum class Kind { kSnapshot, kTrialStarted, kTrialFinished, kSearchFinished, kTrialProgress };
  Kind kind = Kind::kSnapshot;
  // The search as it stood at the event. Only the first snapshot carries the
  // spec (the client reads which costs to show from it); later events leave
  // spec_yaml empty.
  SearchRecord search;
  std::optional<TrialRecord> trial;  // kTrialFinished, kTrialProgress.
  std::optional<EpochMetrics> progress;
};

struct WatchBatch {
  std::vector<WatchEvent> events;
  bool over = false;  // Ends with kSearchFinished: no more polls.
};

// Not thread-safe: one Poll at a time (the reactor's polls are sequential).
class WatchSource {
 public:
  WatchSource(SearchDirectory* searches, User user, int64_t search_id);

  // What happened since the last poll (the first poll gives the snapshot).
  // An error (the search is not visible to the user, the store is
  // unreachable) ends the watch.
  absl::StatusOr<WatchBatch> Poll();

 private:
  SearchDirectory* const searches_;
  const User user_;
  const int64_t search_id_;
  bool snapshot_sent_ = false;
  int64_t last_finish_seq_ = 0;
  int64_t last_running_ = -1;
  std::string last_waiting_;
  // The finished-state counters of the last trial event sent: a later event
  // never shows fewer (see Poll).
  TrialCounts shown_;
  // A dnas search: its job's epochs (dnas_epoch events, every one from the
  // first) are streamed as progress.
  bool dnas_ = false;
  int64_t last_event_id_ = 0;
};

// The search's counts as they stood when each of `done` (in finish order)
// had just finished: `counts` were read after them, and stepping back over
// the later ones takes them out.
std::vector<TrialCounts> CountsAsOf(TrialCounts counts, const std::vector<TrialRecord>& done);

// `at` with each finished-state counter raised to at least `*shown`'s, and
// `*shown` updated to the result: successive trial events never show less
// progress than an earlier one, although a poll's counts can run ahead of
// the trials it streams (they finished between its two reads).
TrialCounts NeverBehind(TrialCounts at, TrialCounts* shown);

}  // namespace hwnas::server

#endif  // HWNAS_SERVER_WATCH_SOURCE_H_
