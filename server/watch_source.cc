#include "server/watch_source.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "nlohmann/json.hpp"
#include "server/search_runtime.h"

namespace hwnas::server {

// Without this a batch of events carried one count, behind or ahead of most
// of its trials ("trial 184 ... (121/1000)"). Trials that finished between
// the two reads still count (a few ahead at most).
std::vector<TrialCounts> CountsAsOf(TrialCounts counts, const std::vector<TrialRecord>& done) {
  std::vector<TrialCounts> as_of(done.size());
  for (size_t i = done.size(); i-- > 0;) {
    as_of[i] = counts;
    if (int64_t* counter = counts.CounterFor(done[i].state); counter && *counter > 0) --*counter;
  }
  return as_of;
}

TrialCounts NeverBehind(TrialCounts at, TrialCounts* shown) {
  for (int64_t TrialCounts::*counter :
       {&TrialCounts::succeeded, &TrialCounts::failed, &TrialCounts::infeasible,
        &TrialCounts::early_stopped, &TrialCounts::cancelled}) {
    at.*counter = std::max(at.*counter, shown->*counter);
    shown->*counter = at.*counter;
  }
  return at;
}

WatchSource::WatchSource(SearchDirectory* searches, User user, int64_t search_id)
    : searches_(searches), user_(std::move(user)), search_id_(search_id) {}

absl::StatusOr<WatchBatch> WatchSource::Poll() {
  // The trials finished since the last poll are read before the search, so
  // the search's counts include every one of them (see CountsAsOf).
  std::vector<TrialRecord> done;
  if (snapshot_sent_) {
    absl::StatusOr<std::vector<TrialRecord>> since =
        searches_->FinishedSince(search_id_, last_finish_seq_);
    if (since.ok()) done = *std::move(since);
  } else {
    // Events start after what had finished before the snapshot is read: a
    // trial finishing in between is counted and streamed, never lost.
    absl::StatusOr<int64_t> last = searches_->LastFinishSequence(search_id_);
    if (last.ok()) last_finish_seq_ = *last;
  }
  absl::StatusOr<SearchRecord> search = searches_->GetSearch(user_, search_id_);
  if (!search.ok()) return search.status();

  WatchBatch batch;
  const auto add = [&batch](WatchEvent::Kind kind, SearchRecord s) -> WatchEvent& {
    batch.events.push_back(WatchEvent{kind, std::move(s), std::nullopt, std::nullopt});
    return batch.events.back();
  };
  SearchRecord snapshot = *search;
  snapshot.spec_yaml.clear();
  const bool first = !snapshot_sent_;
  if (first) {
    add(WatchEvent::Kind::kSnapshot, *search);
    snapshot_sent_ = true;
    absl::StatusOr<std::shared_ptr<SearchRuntime>> runtime = searches_->Runtime(search_id_);
    dnas_ = runtime.ok() && (*runtime)->spec().controller.strategy.name == "dnas";
  }
  if (dnas_) {
    // The job's epochs (on the first poll all so far: a handful).
    absl::StatusOr<std::vector<db::Event>> events =
        searches_->EventsSince(search_id_, last_event_id_, 1000);
    if (events.ok()) {
      for (const db::Event& e : *events) {
        last_event_id_ = e.id;
        if (e.kind != "dnas_epoch" || !e.trial_number) continue;
        const nlohmann::json payload = nlohmann::json::parse(e.payload_json, nullptr, false);
        if (!payload.is_object()) continue;
        EpochMetrics m;
        m.epoch = payload.value("epoch", 0);
        for (const auto& [key, value] : payload.items()) {
          if (key != "epoch" && value.is_number()) m.values[key] = value.get<double>();
        }
        TrialRecord job;
        job.search_id = search_id_;
        job.number = *e.trial_number;
        job.origin = TrialOrigin::kDnasJob;
        WatchEvent& w = add(WatchEvent::Kind::kTrialProgress, snapshot);
        w.trial = std::move(job);
        w.progress = std::move(m);
      }
    }
  }
  if (!first) {
    const std::vector<TrialCounts> as_of = CountsAsOf(search->counts, done);
    for (size_t i = 0; i < done.size(); ++i) {
      SearchRecord at = snapshot;
      at.counts = as_of[i];
      // Trials that finished between this poll's two reads were counted
      // already (an event showed 39/40) but are streamed by the next poll,
      // whose stepping back would show them at 37/40.
      at.counts = NeverBehind(at.counts, &shown_);
      add(WatchEvent::Kind::kTrialFinished, std::move(at)).trial = done[i];
      last_finish_seq_ = done[i].finish_seq;
    }
    if (search->waiting != last_waiting_) {
      // Whether a worker can run it changed: a fresh snapshot says so.
      add(WatchEvent::Kind::kSnapshot, snapshot);
    }
    if (search->counts.running != last_running_ && batch.events.empty()) {
      add(WatchEvent::Kind::kTrialStarted, snapshot);
    }
  }
  last_running_ = search->counts.running;
  last_waiting_ = search->waiting;
  if (search->state != SearchState::kRunning) {
    add(WatchEvent::Kind::kSearchFinished, std::move(snapshot));
    batch.over = true;
  }
  return batch;
}

}  // namespace hwnas::server
