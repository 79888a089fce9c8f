#include "proto/convert.h"

namespace hwnas::proto {
namespace {

template <typename Repeated>
std::vector<std::string> ToVector(const Repeated& r) {
  return std::vector<std::string>(r.begin(), r.end());
}

}  // namespace

hwnas::v1::Architecture ToProto(const Architecture& a) {
  hwnas::v1::Architecture p;
  p.set_space(a.space);
  p.set_space_version(a.space_version);
  p.mutable_tokens()->Add(a.tokens.begin(), a.tokens.end());
  p.set_readable(a.readable);
  return p;
}

Architecture FromProto(const hwnas::v1::Architecture& p) {
  Architecture a;
  a.space = p.space();
  a.space_version = p.space_version();
  a.tokens.assign(p.tokens().begin(), p.tokens().end());
  a.readable = p.readable();
  return a;
}

// The domain enums list the same states in the same order as the protos.
hwnas::v1::TrialState ToProto(TrialState s) { return static_cast<hwnas::v1::TrialState>(s); }

TrialState FromProto(hwnas::v1::TrialState p) {
  if (p < hwnas::v1::TRIAL_STATE_UNSPECIFIED || p > hwnas::v1::TRIAL_STATE_CANCELLED) {
    return TrialState::kUnspecified;
  }
  return static_cast<TrialState>(p);
}

hwnas::v1::SearchState ToProto(SearchState s) { return static_cast<hwnas::v1::SearchState>(s); }

SearchState FromProto(hwnas::v1::SearchState p) {
  if (p < hwnas::v1::SEARCH_STATE_UNSPECIFIED || p > hwnas::v1::SEARCH_STATE_FAILED) {
    return SearchState::kUnspecified;
  }
  return static_cast<SearchState>(p);
}

hwnas::v1::LatencyMeasurement ToProto(const LatencyMeasurement& l) {
  hwnas::v1::LatencyMeasurement p;
  p.set_median_ms(l.median_ms);
  p.set_p90_ms(l.p90_ms);
  p.set_runs(l.runs);
  p.set_threads(l.threads);
  p.set_device(l.device);
  return p;
}

LatencyMeasurement FromProto(const hwnas::v1::LatencyMeasurement& p) {
  return LatencyMeasurement{p.median_ms(), p.p90_ms(), p.runs(), p.threads(), p.device()};
}

hwnas::v1::HardwareCosts ToProto(const HardwareCosts& c) {
  hwnas::v1::HardwareCosts p;
  p.set_params(c.params);
  p.set_macs(c.macs);
  p.set_peak_activation_bytes(c.peak_activation_bytes);
  p.set_flash_bytes(c.flash_bytes);
  return p;
}

HardwareCosts FromProto(const hwnas::v1::HardwareCosts& p) {
  return HardwareCosts{p.params(), p.macs(), p.peak_activation_bytes(), p.flash_bytes()};
}

hwnas::v1::TrialResult ToProto(const TrialResult& r) {
  hwnas::v1::TrialResult p;
  p.set_accuracy(r.accuracy);
  p.set_loss(r.loss);
  if (r.latency) *p.mutable_latency() = ToProto(*r.latency);
  *p.mutable_costs() = ToProto(r.costs);
  for (const auto& [k, v] : r.estimates) (*p.mutable_estimates())[k] = v;
  p.set_train_seconds(r.train_seconds);
  p.set_epochs(r.epochs);
  p.set_error(r.error);
  for (double a : r.fold_accuracy) p.add_fold_accuracy(a);
  p.set_accuracy_se(r.accuracy_se);
  if (r.balanced_accuracy) p.set_balanced_accuracy(*r.balanced_accuracy);
  if (r.macro_f1) p.set_macro_f1(*r.macro_f1);
  return p;
}

TrialResult FromProto(const hwnas::v1::TrialResult& p) {
  TrialResult r;
  r.accuracy = p.accuracy();
  r.loss = p.loss();
  if (p.has_latency()) r.latency = FromProto(p.latency());
  r.costs = FromProto(p.costs());
  for (const auto& [k, v] : p.estimates()) r.estimates[k] = v;
  r.train_seconds = p.train_seconds();
  r.epochs = p.epochs();
  r.error = p.error();
  r.fold_accuracy.assign(p.fold_accuracy().begin(), p.fold_accuracy().end());
  r.accuracy_se = p.accuracy_se();
  if (p.has_balanced_accuracy()) r.balanced_accuracy = p.balanced_accuracy();
  if (p.has_macro_f1()) r.macro_f1 = p.macro_f1();
  return r;
}

hwnas::v1::EpochMetrics ToProto(const EpochMetrics& m) {
  hwnas::v1::EpochMetrics p;
  p.set_epoch(m.epoch);
  for (const auto& [k, v] : m.values) (*p.mutable_values())[k] = v;
  return p;
}

EpochMetrics FromProto(const hwnas::v1::EpochMetrics& p) {
  EpochMetrics m;
  m.epoch = p.epoch();
  for (const auto& [k, v] : p.values()) m.values[k] = v;
  return m;
}

hwnas::v1::Trial ToProto(const TrialRecord& t) {
  hwnas::v1::Trial p;
  p.set_search_id(t.search_id);
  p.set_number(t.number);
  *p.mutable_architecture() = ToProto(t.architecture);
  p.set_state(ToProto(t.state));
  p.set_attempts(t.attempts);
  p.set_worker_id(t.worker_id);
  if (t.result) *p.mutable_result() = ToProto(*t.result);
  if (t.reward) {
    p.set_reward(*t.reward);
    p.set_has_reward(true);
  }
  for (const EpochMetrics& m : t.epochs) *p.add_epochs() = ToProto(m);
  p.set_failure_reason(t.failure_reason);
  *p.mutable_created_at() = ToProto(t.created_at);
  if (t.started_at) *p.mutable_started_at() = ToProto(*t.started_at);
  if (t.finished_at) *p.mutable_finished_at() = ToProto(*t.finished_at);
  p.set_origin(ToProto(t.origin));
  p.set_rung(t.rung);
  p.set_epoch_target(t.epoch_target);
  p.set_bracket(t.bracket);
  p.set_screen(std::string(ScreenStageName(t.screen)));
  if (t.screen_score) p.set_screen_score(*t.screen_score);
  return p;
}

TrialRecord FromProto(const hwnas::v1::Trial& p) {
  TrialRecord t;
  t.search_id = p.search_id();
  t.number = p.number();
  t.architecture = FromProto(p.architecture());
  t.state = FromProto(p.state());
  t.attempts = p.attempts();
  t.worker_id = p.worker_id();
  if (p.has_result()) t.result = FromProto(p.result());
  if (p.has_reward()) t.reward = p.reward();
  for (const auto& m : p.epochs()) t.epochs.push_back(FromProto(m));
  t.failure_reason = p.failure_reason();
  t.created_at = FromProto(p.created_at());
  if (p.has_started_at()) t.started_at = FromProto(p.started_at());
  if (p.has_finished_at()) t.finished_at = FromProto(p.finished_at());
  t.origin = FromProto(p.origin());
  t.rung = p.rung();
  t.epoch_target = p.epoch_target();
  t.bracket = p.bracket();
  t.screen = ParseScreenStage(p.screen()).value_or(ScreenStage::kNone);
  if (p.has_screen_score()) t.screen_score = p.screen_score();
  return t;
}

hwnas::v1::TrialOrigin ToProto(TrialOrigin o) {
  switch (o) {
    case TrialOrigin::kEnqueued:
      return hwnas::v1::TRIAL_ORIGIN_ENQUEUED;
    case TrialOrigin::kImported:
      return hwnas::v1::TRIAL_ORIGIN_IMPORTED;
    case TrialOrigin::kDnasJob:
      return hwnas::v1::TRIAL_ORIGIN_DNAS_JOB;
    case TrialOrigin::kDnas:
      return hwnas::v1::TRIAL_ORIGIN_DNAS;
    case TrialOrigin::kStrategy:
      break;
  }
  return hwnas::v1::TRIAL_ORIGIN_STRATEGY;
}

TrialOrigin FromProto(hwnas::v1::TrialOrigin p) {
  switch (p) {
    case hwnas::v1::TRIAL_ORIGIN_ENQUEUED:
      return TrialOrigin::kEnqueued;
    case hwnas::v1::TRIAL_ORIGIN_IMPORTED:
      return TrialOrigin::kImported;
    case hwnas::v1::TRIAL_ORIGIN_DNAS_JOB:
      return TrialOrigin::kDnasJob;
    case hwnas::v1::TRIAL_ORIGIN_DNAS:
      return TrialOrigin::kDnas;
    default:
      return TrialOrigin::kStrategy;  // UNSPECIFIED: a server before origins.
  }
}

hwnas::v1::Search ToProto(const SearchRecord& s) {
  hwnas::v1::Search p;
  p.set_id(s.id);
  p.set_name(s.name);
  p.set_owner(s.owner);
  p.set_state(ToProto(s.state));
  p.set_spec_yaml(s.spec_yaml);
  p.set_space(s.space);
  p.set_budget(s.budget);
  p.set_weight(s.weight);
  p.set_trials_total(s.counts.total);
  p.set_trials_succeeded(s.counts.succeeded);
  p.set_trials_failed(s.counts.failed);
  p.set_trials_infeasible(s.counts.infeasible);
  p.set_trials_early_stopped(s.counts.early_stopped);
  p.set_trials_screened_out(s.counts.screened_out);
  p.set_trials_running(s.counts.running);
  p.set_trials_pending(s.counts.pending);
  if (s.best_trial) *p.mutable_best_trial() = ToProto(*s.best_trial);
  *p.mutable_created_at() = ToProto(s.created_at);
  if (s.finished_at) *p.mutable_finished_at() = ToProto(*s.finished_at);
  p.set_error(s.error);
  p.set_waiting(s.waiting);
  p.set_warm_start_search_id(s.warm_start_search_id);
  return p;
}

SearchRecord FromProto(const hwnas::v1::Search& p) {
  SearchRecord s;
  s.id = p.id();
  s.name = p.name();
  s.owner = p.owner();
  s.state = FromProto(p.state());
  s.spec_yaml = p.spec_yaml();
  s.space = p.space();
  s.budget = p.budget();
  s.weight = p.weight();
  s.counts.total = p.trials_total();
  s.counts.succeeded = p.trials_succeeded();
  s.counts.failed = p.trials_failed();
  s.counts.infeasible = p.trials_infeasible();
  s.counts.early_stopped = p.trials_early_stopped();
  s.counts.screened_out = p.trials_screened_out();
  s.counts.running = p.trials_running();
  s.counts.pending = p.trials_pending();
  s.counts.cancelled = s.counts.total - s.counts.succeeded - s.counts.failed - s.counts.infeasible -
                       s.counts.early_stopped - s.counts.running - s.counts.pending;
  if (p.has_best_trial()) s.best_trial = FromProto(p.best_trial());
  s.created_at = FromProto(p.created_at());
  if (p.has_finished_at()) s.finished_at = FromProto(p.finished_at());
  s.error = p.error();
  s.waiting = p.waiting();
  s.warm_start_search_id = p.warm_start_search_id();
  return s;
}

hwnas::v1::WorkerCapabilities CapabilitiesToProto(const WorkerRecord& w) {
  hwnas::v1::WorkerCapabilities p;
  p.set_device_kind(w.device_kind);
  p.set_device_tag(w.device_tag);
  p.set_threads(w.threads);
  p.set_gpu(w.gpu);
  for (const std::string& d : w.datasets) p.add_datasets(d);
  for (const std::string& s : w.search_spaces) p.add_search_spaces(s);
  for (const std::string& e : w.evaluators) p.add_evaluators(e);
  p.set_version(w.version);
  p.set_hostname(w.hostname);
  for (const std::string& m : w.measure_mcus) p.add_measure_mcus(m);
  return p;
}

WorkerRecord CapabilitiesFromProto(const hwnas::v1::WorkerCapabilities& p) {
  WorkerRecord w;
  w.device_kind = p.device_kind();
  w.device_tag = p.device_tag();
  w.threads = p.threads();
  w.gpu = p.gpu();
  w.datasets = ToVector(p.datasets());
  w.search_spaces = ToVector(p.search_spaces());
  w.evaluators = ToVector(p.evaluators());
  w.version = p.version();
  w.hostname = p.hostname();
  w.measure_mcus = ToVector(p.measure_mcus());
  return w;
}

google::protobuf::Timestamp ToProto(absl::Time t) {
  google::protobuf::Timestamp p;
  const int64_t micros = absl::ToUnixMicros(t);
  // Floor division so times before 1970 keep nanos in [0, 1e9).
  int64_t seconds = micros / 1000000;
  int64_t rest = micros % 1000000;
  if (rest < 0) {
    rest += 1000000;
    --seconds;
  }
  p.set_seconds(seconds);
  p.set_nanos(static_cast<int32_t>(rest * 1000));
  return p;
}

absl::Time FromProto(const google::protobuf::Timestamp& p) {
  return absl::FromUnixSeconds(p.seconds()) + absl::Nanoseconds(p.nanos());
}

google::protobuf::Duration ToProto(absl::Duration d) {
  google::protobuf::Duration p;
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  p.set_seconds(nanos / 1000000000);
  p.set_nanos(static_cast<int32_t>(nanos % 1000000000));
  return p;
}

absl::Duration FromProto(const google::protobuf::Duration& p) {
  return absl::Seconds(p.seconds()) + absl::Nanoseconds(p.nanos());
}

}  // namespace hwnas::proto
