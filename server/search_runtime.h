// One running search in the server's memory: its parsed spec, search space,
// strategy (controller::Search) and the estimation targets used to decide
// feasibility before training. Rebuilt from the store after a restart.
#ifndef HWNAS_SERVER_SEARCH_RUNTIME_H_
#define HWNAS_SERVER_SEARCH_RUNTIME_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "common/records.h"
#include "controller/search.h"
#include "db/store.h"
#include "hardware/targets.h"
#include "scheduler/early_stopping.h"
#include "scheduler/fidelity.h"
#include "scheduler/screen.h"
#include "server/coordinator_types.h"
#include "server/queue_counters.h"
#include "space/search_space.h"
#include "spec/search_spec.h"

namespace hwnas::server {

// A trial's reward and final state, as decided by the search's objectives.
struct Verdict {
  TrialState state = TrialState::kSucceeded;
  std::optional<double> reward;
  std::string note;  // Why INFEASIBLE or FAILED.
};

class SearchRuntime {
 public:
  // Builds a search's runtime from its record; every error is
  // InvalidArgument (see CheckSpec).
  static absl::StatusOr<std::shared_ptr<SearchRuntime>> Create(
      const SearchRecord& record, const std::vector<std::string>& profile_search_path);
  // Checks that a search could be built from `spec_yaml`: the spec parses and
  // what it names exists (MCU profiles, strategy options for the space).
  // Returns the parsed spec. Submit runs it before storing anything, so a
  // spec that could never run is refused (InvalidArgument, naming the field)
  // instead of stored as FAILED.
  static absl::StatusOr<spec::SearchSpec> CheckSpec(
      absl::string_view spec_yaml, const std::vector<std::string>& profile_search_path);
  // Checks that an earlier search's finished trials can seed a search of
  // `spec` (strategy.warm_start_from): builds a probe and warm-starts it.
  static absl::StatusOr<controller::Search::WarmStartReport> CheckWarmStart(
      const spec::SearchSpec& spec, absl::Span<const TrialRecord> earlier,
      const std::vector<std::string>& profile_search_path);
  ~SearchRuntime();

  // SearchRuntime objects alive in this process (a /metrics gauge: it should
  // follow the running searches, not the searches ever loaded).
  static int64_t LiveCount();

  int64_t id() const { return id_; }
  // Owner's user name, for the per-owner running limit.
  const std::string& owner() const { return owner_; }
  const spec::SearchSpec& spec() const { return spec_; }
  int64_t budget() const { return budget_; }
  // budget.seconds: when the wall-clock budget runs out (from the search's
  // creation, so it keeps counting across server restarts); nullopt: none.
  std::optional<absl::Time> deadline() const { return deadline_; }
  bool PastDeadline(absl::Time now) const { return deadline_ && now >= *deadline_; }
  uint64_t seed() const { return seed_; }
  // Most proposals to keep ahead of feedback (0: no cap): a policy-gradient
  // controller's batch size.
  int64_t max_ahead() const { return max_ahead_; }

  // Restores the strategy from the latest checkpoint and re-observes every
  // trial that finished after it; a search without a checkpoint yet (new, or
  // stopped before its first proposals were stored) is warm-started from its
  // warm-start search's finished trials instead, if it has one. Call once,
  // before use.
  absl::Status Restore(db::Store& store) ABSL_LOCKS_EXCLUDED(mu_);

  // Proposes up to `n` architectures and stores them (pending, or INFEASIBLE
  // when static costs break a hard limit) together with a checkpoint of the
  // strategy. Returns the stored trials.
  absl::StatusOr<std::vector<TrialRecord>> ProposeAndStore(db::Store& store, int n)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Stores the owner's architectures as trials of `origin` (kEnqueued:
  // PENDING, or INFEASIBLE when static costs break a hard limit; kImported:
  // finished with their results, SUCCEEDED or INFEASIBLE as the objectives
  // judge them) and tells the strategy about those already finished. All or
  // nothing: the first item that does not decode in the space (or, for an
  // import, whose result cannot be scored) fails the call, naming its line
  // or position, before anything is stored.
  absl::StatusOr<std::vector<TrialRecord>> StoreGuided(db::Store& store,
                                                       const std::vector<GuidedTrial>& items,
                                                       TrialOrigin origin) ABSL_LOCKS_EXCLUDED(mu_);

  // The verdict on a reported result (pure: changes nothing).
  Verdict Judge(const TrialRecord& trial, const TrialResult& result, bool early_stopped)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Feeds finished trials to the strategy (repeats are ignored).
  void Observe(const std::vector<TrialRecord>& finished) ABSL_LOCKS_EXCLUDED(mu_);

  // Multi-fidelity (spec `fidelity:`): records the rung results of newly
  // finished trials (SUCCEEDED ones; a trial's score is its reward, else its
  // accuracy) and returns them with every promotion the ASHA rule allows
  // now, already marked promoted. Empty without fidelity.
  struct RungStep {
    std::vector<db::RungResult> results;
    std::vector<scheduler::Promotion> promotions;
  };
  RungStep RecordRungs(const std::vector<TrialRecord>& finished) ABSL_LOCKS_EXCLUDED(mu_);
  bool multi_fidelity() const { return spec_.fidelity.enabled(); }

  // Screening (spec `screen:`): the decision on each newly screened trial
  // (SUCCEEDED with its screen pending), by the rule of scheduler/screen.h,
  // recorded in the rule. Empty without a screen.
  struct ScreenVerdict {
    int64_t trial = 0;
    double score = 0;
    std::optional<std::string> out_reason;  // Set: screened out.
    scheduler::ScreenDecision decision;
  };
  std::vector<ScreenVerdict> DecideScreens(const std::vector<TrialRecord>& finished)
      ABSL_LOCKS_EXCLUDED(mu_);
  bool screens() const { return spec_.screen.enabled; }
  // Screened-out trials, told to the strategy as failed: the proposal is
  // answered (the architecture is not proposed again) and nothing is learned
  // from a score that is no accuracy.
  void TellScreenedOut(const std::vector<TrialRecord>& out) ABSL_LOCKS_EXCLUDED(mu_);
  // Trials a restarted server found screened but undecided (the server
  // stopped between the report and the decision); taken once.
  std::vector<TrialRecord> TakeUndecidedScreens() ABSL_LOCKS_EXCLUDED(mu_);

  // Whether the strategy could propose more (false once the space or the
  // strategy is exhausted).
  bool exhausted() const { return exhausted_; }

  // Early stopping: curves of finished trials, and the running ones' so far.
  bool ShouldStop(int64_t trial_number, const EpochMetrics& metrics) ABSL_LOCKS_EXCLUDED(mu_);
  void SetFinishedCurves(std::map<int64_t, scheduler::Curve> curves) ABSL_LOCKS_EXCLUDED(mu_);

  // Approximate queue counters for the scheduler, and the refill flags.
  QueueCounters& counters() { return counters_; }
  const QueueCounters& counters() const { return counters_; }
  RefillFlags& refill_flags() { return refill_flags_; }

  // Completed, cancelled or dropped: no more refills, no more proposals.
  void MarkFinished() { finished_ = true; }
  bool finished() const { return finished_; }
  // Memory and store disagree (a failed write): the coordinator rebuilds
  // this search from the store.
  void MarkNeedsReload() { needs_reload_ = true; }
  bool needs_reload() const { return needs_reload_; }

 private:
  // Create from a parsed spec, without the error-code mapping.
  static absl::StatusOr<std::shared_ptr<SearchRuntime>> Build(
      const SearchRecord& record, spec::SearchSpec spec,
      const std::vector<std::string>& profile_search_path);
  SearchRuntime(const SearchRecord& record, spec::SearchSpec spec,
                std::unique_ptr<space::SearchSpace> space,
                std::optional<hardware::TargetSet> targets);
  // The metrics every trial of this search will carry: the table answers
  // accuracy and latency; training adds loss and time, the static costs, the
  // measured latency (unless hardware.measure_latency is false) and each
  // hardware target's estimates. Proposes from the strategy: probes only.
  absl::StatusOr<std::set<std::string>> MetricsOfTrials() ABSL_LOCKS_EXCLUDED(mu_);
  // Every metric the objectives name is one the trials will carry: a
  // constraint on a missing one would fail every trial, a hard limit on one
  // would never be enforced, a Pareto metric would leave the front empty.
  absl::Status CheckObjectiveMetrics() ABSL_LOCKS_EXCLUDED(mu_);
  absl::StatusOr<db::Checkpoint> CheckpointLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ObserveLocked(const std::vector<TrialRecord>& finished) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Static costs and estimates of an architecture, and the hard limit it
  // breaks (if any), before training.
  std::pair<std::optional<TrialResult>, std::string> StaticCheck(const Architecture& arch);
  // A new trial's starting rung, bracket and epoch target (fidelity only);
  // `ordinal` picks the Hyperband bracket.
  void ApplyFidelity(db::NewTrial& t, uint64_t ordinal) const;

  const int64_t id_;
  const std::string owner_;
  const spec::SearchSpec spec_;
  const int64_t budget_;
  const uint64_t seed_;
  const int64_t warm_start_search_id_;
  const int64_t max_ahead_;
  const std::unique_ptr<space::SearchSpace> space_;
  const std::optional<hardware::TargetSet> targets_;
  std::optional<absl::Time> deadline_;

  // Serializes ProposeAndStore calls (so checkpoints are stored in order)
  // without holding mu_ across the database write.
  absl::Mutex propose_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  absl::Mutex mu_;
  std::unique_ptr<controller::Search> search_ ABSL_GUARDED_BY(mu_);
  int64_t checkpoint_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  // Finish sequences observed: every one up to observed_through_, plus those
  // above it that arrived out of order.
  int64_t observed_through_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<int64_t> observed_above_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, scheduler::Curve> finished_curves_ ABSL_GUARDED_BY(mu_);
  std::map<int64_t, scheduler::Curve> running_curves_ ABSL_GUARDED_BY(mu_);
  // The rungs and their results (fidelity only), rebuilt from the store.
  std::unique_ptr<scheduler::PromotionLadder> ladder_ ABSL_GUARDED_BY(mu_);
  // The screen's scores so far (screen only), rebuilt from the store.
  std::unique_ptr<scheduler::ScreenRule> screen_rule_ ABSL_GUARDED_BY(mu_);
  std::vector<TrialRecord> undecided_screens_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> exhausted_{false};
  QueueCounters counters_;
  RefillFlags refill_flags_;
  std::atomic<bool> finished_{false};
  std::atomic<bool> needs_reload_{false};
};

}  // namespace hwnas::server

#endif  // HWNAS_SERVER_SEARCH_RUNTIME_H_
