#include "server/services.h"

#include <deque>
#include <exception>
#include <memory>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "proto/convert.h"
#include "spdlog/spdlog.h"

namespace hwnas::server {
namespace {

using hwnas::proto::FromProto;
using hwnas::proto::ToProto;

std::string AuthorizationOf(const grpc::CallbackServerContext* ctx) {
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return "";
  return std::string(it->second.data(), it->second.size());
}

// SearchService is for people and dashboards: worker identities may not use it.
absl::Status RequireUser(const User& user) {
  if (!user.is_worker || user.is_admin) return absl::OkStatus();
  return absl::PermissionDeniedError("SearchService needs a user token (this is a worker token)");
}

// Workers act for the fleet's identity only: an admin token is a person's
// and is not spread over worker machines (docs/operations.md).
absl::Status RequireWorker(const User& user) {
  if (user.is_worker) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      "WorkerService needs a worker token (this is ", user.is_admin ? "an admin" : "a user",
      " token; hwnas-server admin create-user NAME --worker makes one)"));
}

db::TrialOrder OrderFromProto(hwnas::v1::TrialOrder order) {
  switch (order) {
    case hwnas::v1::TRIAL_ORDER_REWARD_DESC:
      return db::TrialOrder::kRewardDesc;
    case hwnas::v1::TRIAL_ORDER_ACCURACY_DESC:
      return db::TrialOrder::kAccuracyDesc;
    case hwnas::v1::TRIAL_ORDER_LATENCY_ASC:
      return db::TrialOrder::kLatencyAsc;
    default:
      return db::TrialOrder::kNumber;
  }
}

// Streams a search's progress: the events of a WatchSource (a snapshot first,
// then trial events as the store shows them, then SEARCH_FINISHED) in
// protobuf. Polls (cheap indexed reads) only while someone is watching, so
// the hot paths write no events. One write is in flight at a time; polls run
// on the executor.
class WatchReactor : public grpc::ServerWriteReactor<hwnas::v1::SearchEvent> {
 public:
  WatchReactor(Coordinator* coordinator, Executor* executor, const User& user, int64_t search_id)
      : state_(std::make_shared<State>()) {
    state_->source = coordinator->Watch(user, search_id);
    state_->executor = executor;
    state_->reactor = this;
    std::shared_ptr<State> state = state_;
    executor->Post([state] { Poll(state); });
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&state_->mu);
    state_->writing = false;
    if (state_->finished) return;
    if (!ok) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      return;
    }
    WriteNextLocked();
  }

  void OnCancel() override {
    absl::MutexLock lock(&state_->mu);
    if (state_->finished) return;
    state_->cancelled = true;
    if (!state_->writing) FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
  }

  // No lock here: FinishLocked already detached the reactor from the state,
  // and gRPC may run OnDone on the thread that called Finish.
  void OnDone() override { delete this; }

 private:
  struct State {
    absl::Mutex mu;
    WatchReactor* reactor ABSL_GUARDED_BY(mu) = nullptr;
    std::unique_ptr<WatchSource> source;  // Poll thread only.
    Executor* executor = nullptr;
    std::deque<hwnas::v1::SearchEvent> outbox ABSL_GUARDED_BY(mu);
    bool writing ABSL_GUARDED_BY(mu) = false;
    bool finishing ABSL_GUARDED_BY(mu) = false;  // SEARCH_FINISHED queued.
    bool finished ABSL_GUARDED_BY(mu) = false;   // Finish() called.
    bool cancelled ABSL_GUARDED_BY(mu) = false;
    hwnas::v1::SearchEvent current;  // Write buffer, guarded by `writing`.
  };

  void FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu) {
    if (state_->finished) return;
    state_->finished = true;
    state_->reactor = nullptr;  // Polls still queued will see this and stop.
    Finish(status);
  }

  // Starts the next queued write, or finishes, or schedules the next poll.
  void WriteNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state_->mu) {
    if (state_->finished || state_->writing) return;
    if (state_->cancelled) {
      FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
      return;
    }
    if (!state_->outbox.empty()) {
      state_->current = std::move(state_->outbox.front());
      state_->outbox.pop_front();
      state_->writing = true;
      StartWrite(&state_->current);
      return;
    }
    if (state_->finishing) {
      FinishLocked(grpc::Status::OK);
      return;
    }
    std::shared_ptr<State> state = state_;
    state_->executor->PostAfter(absl::Milliseconds(300), [state] { Poll(state); });
  }

  static hwnas::v1::SearchEvent::Kind KindToProto(WatchEvent::Kind kind) {
    switch (kind) {
      case WatchEvent::Kind::kSnapshot:
        return hwnas::v1::SearchEvent::KIND_SNAPSHOT;
      case WatchEvent::Kind::kTrialStarted:
        return hwnas::v1::SearchEvent::KIND_TRIAL_STARTED;
      case WatchEvent::Kind::kTrialFinished:
        return hwnas::v1::SearchEvent::KIND_TRIAL_FINISHED;
      case WatchEvent::Kind::kSearchFinished:
        return hwnas::v1::SearchEvent::KIND_SEARCH_FINISHED;
      case WatchEvent::Kind::kTrialProgress:
        return hwnas::v1::SearchEvent::KIND_TRIAL_PROGRESS;
    }
    return hwnas::v1::SearchEvent::KIND_SNAPSHOT;
  }

  static void Poll(const std::shared_ptr<State>& state) {
    {
      absl::MutexLock lock(&state->mu);
      if (state->reactor == nullptr || state->finished) return;
    }
    absl::StatusOr<WatchBatch> batch = state->source->Poll();
    std::deque<hwnas::v1::SearchEvent> events;
    if (batch.ok()) {
      for (const WatchEvent& e : batch->events) {
        hwnas::v1::SearchEvent& p = events.emplace_back();
        p.set_kind(KindToProto(e.kind));
        *p.mutable_search() = ToProto(e.search);
        if (e.trial) *p.mutable_trial() = ToProto(*e.trial);
        if (e.progress) *p.mutable_progress() = ToProto(*e.progress);
      }
    }
    absl::MutexLock lock(&state->mu);
    WatchReactor* reactor = state->reactor;
    if (reactor == nullptr || state->finished) return;
    if (!batch.ok()) {
      reactor->FinishLocked(ToGrpc(batch.status()));
      return;
    }
    for (auto& e : events) state->outbox.push_back(std::move(e));
    state->finishing = state->finishing || batch->over;
    reactor->WriteNextLocked();
  }

  std::shared_ptr<State> state_;
};

}  // namespace

namespace {

// Authenticates the call, checks the identity may use the service
// (`allowed`), then runs `body(user)` on the executor and finishes the call
// with its status.
template <typename Body>
grpc::ServerUnaryReactor* HandleUnary(grpc::CallbackServerContext* ctx, Executor* executor,
                                      Authenticator* auth, Metrics* metrics,
                                      absl::Status (*allowed)(const User&), Body body) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  executor->Post([ctx, reactor, auth, metrics, allowed, body = std::move(body)]() mutable {
    absl::StatusOr<User> user = auth->Authenticate(AuthorizationOf(ctx));
    absl::Status status = user.ok() ? allowed(*user) : user.status();
    if (status.ok()) {
      // The modules below return Status; an exception that still escapes
      // one (a library's) fails this call, not the whole server.
      try {
        status = body(*user);
      } catch (const std::exception& e) {
        spdlog::error("event=rpc_exception error=\"{}\"", e.what());
        status = absl::InternalError(absl::StrCat("internal error: ", e.what()));
      }
    }
    if (!status.ok()) metrics->rpc_errors++;
    reactor->Finish(ToGrpc(status));
  });
  return reactor;
}

}  // namespace

template <typename Body>
grpc::ServerUnaryReactor* SearchServiceImpl::Handle(grpc::CallbackServerContext* ctx, Body body) {
  return HandleUnary(ctx, executor_, auth_, metrics_, &RequireUser, std::move(body));
}

grpc::ServerUnaryReactor* SearchServiceImpl::SubmitSearch(
    grpc::CallbackServerContext* ctx, const hwnas::v1::SubmitSearchRequest* request,
    hwnas::v1::SubmitSearchResponse* response) {
  return Handle(ctx, [this, request, response](const User& user) -> absl::Status {
    absl::StatusOr<SearchRecord> s =
        coordinator_->Submit(user, request->spec_yaml(), request->idempotency_key());
    if (!s.ok()) return s.status();
    *response->mutable_search() = ToProto(*s);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* SearchServiceImpl::GetSearch(grpc::CallbackServerContext* ctx,
                                                       const hwnas::v1::GetSearchRequest* request,
                                                       hwnas::v1::Search* response) {
  return Handle(ctx, [this, request, response](const User& user) -> absl::Status {
    absl::StatusOr<SearchRecord> s = coordinator_->GetSearch(user, request->search_id());
    if (!s.ok()) return s.status();
    *response = ToProto(*s);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* SearchServiceImpl::ListSearches(
    grpc::CallbackServerContext* ctx, const hwnas::v1::ListSearchesRequest* request,
    hwnas::v1::ListSearchesResponse* response) {
  return Handle(ctx, [this, request, response](const User& user) -> absl::Status {
    db::SearchQuery q;
    q.page_size = request->page_size();
    q.page_token = request->page_token();
    if (request->state() != hwnas::v1::SEARCH_STATE_UNSPECIFIED) {
      q.state = FromProto(request->state());
    }
    absl::StatusOr<db::Page<SearchRecord>> page =
        coordinator_->ListSearches(user, q, request->all_owners());
    if (!page.ok()) return page.status();
    for (const SearchRecord& s : page->items) {
      hwnas::v1::Search* p = response->add_searches();
      *p = ToProto(s);
      p->clear_spec_yaml();  // Lists stay small; GetSearch has the spec.
    }
    response->set_next_page_token(page->next_page_token);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* SearchServiceImpl::CancelSearch(
    grpc::CallbackServerContext* ctx, const hwnas::v1::CancelSearchRequest* request,
    hwnas::v1::Search* response) {
  return Handle(ctx, [this, request, response](const User& user) -> absl::Status {
    absl::StatusOr<SearchRecord> s = coordinator_->Cancel(user, request->search_id());
    if (!s.ok()) return s.status();
    *response = ToProto(*s);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* SearchServiceImpl::ListTrials(grpc::CallbackServerContext* ctx,
                                                        const hwnas::v1::ListTrialsRequest* request,
                                                        hwnas::v1::ListTrialsResponse* response) {
  return Handle(ctx, [this, request, response](const User& user) -> absl::Status {
    db::TrialQuery q;
    q.search_id = request->search_id();
    q.page_size = request->page_size();
    q.page_token = request->page_token();
    if (request->state() != hwnas::v1::TRIAL_STATE_UNSPECIFIED) {
      q.state = FromProto(request->state());
    }
    q.order = OrderFromProto(request->order());
    absl::StatusOr<db::Page<TrialRecord>> page = coordinator_->ListTrials(user, q);
    if (!page.ok()) return page.status();
    for (const TrialRecord& t : page->items) *response->add_trials() = ToProto(t);
    response->set_next_page_token(page->next_page_token);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* SearchServiceImpl::GetTrial(grpc::CallbackServerContext* ctx,
                                                      const hwnas::v1::GetTrialRequest* request,
                                                      hwnas::v1::Trial* response) {
  return Handle(ctx, [this, request, response](const User& user) -> absl::Status {
    absl::StatusOr<TrialRecord> t =
        coordinator_->GetTrial(user, request->search_id(), request->number());
    if (!t.ok()) return t.status();
    *response = ToProto(*t);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* SearchServiceImpl::GetParetoFront(
    grpc::CallbackServerContext* ctx, const hwnas::v1::GetParetoFrontRequest* request,
    hwnas::v1::GetParetoFrontResponse* response) {
  return Handle(ctx, [this, request, response](const User& user) -> absl::Status {
    std::vector<std::string> metrics(request->metrics().begin(), request->metrics().end());
    absl::StatusOr<Coordinator::ParetoAnswer> front =
        coordinator_->ParetoFront(user, request->search_id(), std::move(metrics));
    if (!front.ok()) return front.status();
    for (const TrialRecord& t : front->trials) *response->add_trials() = ToProto(t);
    for (const std::string& m : front->metrics) response->add_metrics(m);
    response->set_hypervolume(front->hypervolume);
    for (const NearMiss& near : front->least_violating) {
      hwnas::v1::NearMiss* p = response->add_least_violating();
      *p->mutable_trial() = ToProto(near.trial);
      p->set_total_excess(near.total_excess);
      for (const LimitMiss& miss : near.misses) {
        hwnas::v1::LimitMiss* m = p->add_misses();
        m->set_metric(miss.metric);
        m->set_value(miss.value);
        m->set_limit(miss.limit);
        m->set_excess(miss.excess);
      }
    }
    return absl::OkStatus();
  });
}

// Most architectures or rows one EnqueueTrials / ImportTrials call takes.
constexpr int kMaxGuidedPerCall = 10000;

grpc::ServerUnaryReactor* SearchServiceImpl::EnqueueTrials(
    grpc::CallbackServerContext* ctx, const hwnas::v1::EnqueueTrialsRequest* request,
    hwnas::v1::EnqueueTrialsResponse* response) {
  return Handle(ctx, [this, request, response](const User& user) -> absl::Status {
    if (request->architectures_size() > kMaxGuidedPerCall) {
      return absl::InvalidArgumentError(
          absl::StrCat("architectures: at most ", kMaxGuidedPerCall, " per call"));
    }
    if (request->lines_size() != 0 && request->lines_size() != request->architectures_size()) {
      return absl::InvalidArgumentError("lines: one per architecture, or none");
    }
    std::vector<GuidedTrial> items;
    for (int i = 0; i < request->architectures_size(); ++i) {
      items.push_back({.architecture = request->architectures(i),
                       .line = request->lines_size() > 0 ? request->lines(i) : 0});
    }
    absl::StatusOr<std::vector<TrialRecord>> added =
        coordinator_->AddGuided(user, request->search_id(), items, TrialOrigin::kEnqueued);
    if (!added.ok()) return added.status();
    for (const TrialRecord& t : *added) *response->add_trials() = ToProto(t);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* SearchServiceImpl::ImportTrials(
    grpc::CallbackServerContext* ctx, const hwnas::v1::ImportTrialsRequest* request,
    hwnas::v1::ImportTrialsResponse* response) {
  return Handle(ctx, [this, request, response](const User& user) -> absl::Status {
    if (request->results_size() > kMaxGuidedPerCall) {
      return absl::InvalidArgumentError(
          absl::StrCat("results: at most ", kMaxGuidedPerCall, " per call"));
    }
    std::vector<GuidedTrial> items;
    for (const hwnas::v1::ImportedResult& r : request->results()) {
      GuidedTrial item{.architecture = r.architecture(), .line = r.line()};
      if (r.has_result()) item.result = FromProto(r.result());
      items.push_back(std::move(item));
    }
    absl::StatusOr<std::vector<TrialRecord>> added =
        coordinator_->AddGuided(user, request->search_id(), items, TrialOrigin::kImported);
    if (!added.ok()) return added.status();
    for (const TrialRecord& t : *added) *response->add_trials() = ToProto(t);
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<hwnas::v1::SearchEvent>* SearchServiceImpl::WatchSearch(
    grpc::CallbackServerContext* ctx, const hwnas::v1::WatchSearchRequest* request) {
  absl::StatusOr<User> user = auth_->Authenticate(AuthorizationOf(ctx));
  if (user.ok()) {
    if (absl::Status s = RequireUser(*user); !s.ok()) user = s;
  }
  if (!user.ok()) {
    // A reactor that finishes at once with the error.
    class Refused : public grpc::ServerWriteReactor<hwnas::v1::SearchEvent> {
     public:
      explicit Refused(grpc::Status s) { Finish(std::move(s)); }
      void OnDone() override { delete this; }
    };
    metrics_->rpc_errors++;
    return new Refused(ToGrpc(user.status()));
  }
  return new WatchReactor(coordinator_, executor_, *user, request->search_id());
}

// ---------------------------------------------------------------------------

template <typename Body>
grpc::ServerUnaryReactor* WorkerServiceImpl::Handle(grpc::CallbackServerContext* ctx, Body body) {
  return HandleUnary(ctx, executor_, auth_, metrics_, &RequireWorker, std::move(body));
}

grpc::ServerUnaryReactor* WorkerServiceImpl::RegisterWorker(
    grpc::CallbackServerContext* ctx, const hwnas::v1::RegisterWorkerRequest* request,
    hwnas::v1::RegisterWorkerResponse* response) {
  return Handle(ctx, [this, request, response](const User& user) -> absl::Status {
    WorkerRecord w = hwnas::proto::CapabilitiesFromProto(request->capabilities());
    w.name = request->name();
    absl::StatusOr<WorkerRecord> stored = coordinator_->RegisterWorker(user, std::move(w));
    if (!stored.ok()) return stored.status();
    response->set_worker_id(stored->id);
    *response->mutable_lease_ttl() = ToProto(coordinator_->options().lease_ttl);
    *response->mutable_heartbeat_interval() = ToProto(coordinator_->options().lease_ttl / 4);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* WorkerServiceImpl::AcquireTrial(
    grpc::CallbackServerContext* ctx, const hwnas::v1::AcquireTrialRequest* request,
    hwnas::v1::AcquireTrialResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  executor_->Post([this, ctx, reactor, request, response] {
    absl::StatusOr<User> user = auth_->Authenticate(AuthorizationOf(ctx));
    absl::Status status = user.ok() ? RequireWorker(*user) : user.status();
    if (status.ok()) status = coordinator_->AuthorizeWorker(*user, request->worker_id(), true);
    if (!status.ok()) {
      metrics_->rpc_errors++;
      reactor->Finish(ToGrpc(status));
      return;
    }
    // Long-poll: answer a little before the client's deadline so the empty
    // answer arrives rather than a DEADLINE_EXCEEDED.
    absl::Duration wait = request->has_wait() ? FromProto(request->wait()) : absl::Seconds(10);
    wait = std::clamp(wait, absl::ZeroDuration(), absl::Seconds(60));
    // The long-poll deadline is on the coordinator's clock; the client's
    // (below) is real time, and the two are the same clock in production.
    absl::Time deadline = coordinator_->clock().Now() + wait;
    const absl::Time client_deadline = absl::FromChrono(ctx->deadline());
    if (client_deadline < deadline + absl::Milliseconds(200)) {
      deadline = client_deadline - absl::Milliseconds(200);
    }
    if (request->max_trials() < 0 || request->max_trials() > kMaxTrialsPerCall) {
      metrics_->rpc_errors++;
      reactor->Finish(ToGrpc(absl::InvalidArgumentError(absl::StrCat(
          "max_trials must be 0 to ", kMaxTrialsPerCall, ", got ", request->max_trials()))));
      return;
    }
    coordinator_->Acquire(request->worker_id(), deadline, std::max(1, request->max_trials()),
                          [reactor, response](absl::StatusOr<std::vector<Assignment>> got) {
                            if (!got.ok()) {
                              reactor->Finish(ToGrpc(got.status()));
                              return;
                            }
                            for (size_t i = 0; i < got->size(); ++i) {
                              const Assignment& a = (*got)[i];
                              hwnas::v1::TrialAssignment* p;
                              if (i == 0) {
                                response->set_lease_id(a.lease_id);
                                *response->mutable_lease_expires_at() = ToProto(a.lease_expires_at);
                                p = response->mutable_assignment();
                              } else {
                                hwnas::v1::TrialLease* more = response->add_more();
                                more->set_lease_id(a.lease_id);
                                *more->mutable_lease_expires_at() = ToProto(a.lease_expires_at);
                                p = more->mutable_assignment();
                              }
                              p->set_search_id(a.search_id);
                              p->set_trial_number(a.trial_number);
                              *p->mutable_architecture() = ToProto(a.architecture);
                              p->set_spec_yaml(a.spec_yaml);
                              p->set_attempt(a.attempt);
                              p->set_seed(static_cast<int64_t>(a.seed));
                              p->set_epoch_target(a.epoch_target);
                              p->set_rung(a.rung);
                              p->set_resume_checkpoint(a.resume_checkpoint);
                              p->set_checkpoint_wanted(a.checkpoint_wanted);
                              p->set_job(a.job);
                              p->set_screen(a.screen);
                            }
                            reactor->Finish(grpc::Status::OK);
                          });
  });
  return reactor;
}

grpc::ServerUnaryReactor* WorkerServiceImpl::ReportProgress(
    grpc::CallbackServerContext* ctx, const hwnas::v1::ReportProgressRequest* request,
    hwnas::v1::ReportProgressResponse* response) {
  return Handle(ctx, [this, request, response](const User& user) -> absl::Status {
    HWNAS_RETURN_IF_ERROR(coordinator_->AuthorizeWorker(user, request->worker_id(), false));
    std::optional<EpochMetrics> metrics;
    if (request->has_metrics()) metrics = FromProto(request->metrics());
    if (!request->checkpoint().empty()) {
      // A dnas job's epoch: durable before the epoch counts as done.
      if (!metrics) {
        return absl::InvalidArgumentError("checkpoint: sent without the epoch's metrics");
      }
      HWNAS_RETURN_IF_ERROR(coordinator_->SaveDnasEpoch(request->worker_id(), request->lease_id(),
                                                        *metrics, request->checkpoint()));
    }
    absl::StatusOr<ProgressAnswer> answer =
        coordinator_->ReportProgress(request->worker_id(), request->lease_id(), metrics);
    if (!answer.ok()) return answer.status();
    switch (answer->action) {
      case ProgressAction::kContinue:
        response->set_action(hwnas::v1::ReportProgressResponse::ACTION_CONTINUE);
        break;
      case ProgressAction::kStopEarly:
        response->set_action(hwnas::v1::ReportProgressResponse::ACTION_STOP_EARLY);
        break;
      case ProgressAction::kCancelled:
        response->set_action(hwnas::v1::ReportProgressResponse::ACTION_CANCELLED);
        break;
    }
    *response->mutable_lease_expires_at() = ToProto(answer->lease_expires_at);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* WorkerServiceImpl::ReportResult(
    grpc::CallbackServerContext* ctx, const hwnas::v1::ReportResultRequest* request,
    hwnas::v1::ReportResultResponse* response) {
  return Handle(ctx, [this, request, response](const User& user) -> absl::Status {
    HWNAS_RETURN_IF_ERROR(coordinator_->AuthorizeWorker(user, request->worker_id(), false));
    if (request->dnas_candidates_size() > 0) {
      HWNAS_RETURN_IF_ERROR(coordinator_->StoreDnasCandidates(
          request->worker_id(), request->lease_id(),
          std::vector<std::string>(request->dnas_candidates().begin(),
                                   request->dnas_candidates().end())));
    }
    absl::StatusOr<db::ReportOutcome> outcome = coordinator_->ReportResult(
        request->worker_id(), request->lease_id(), FromProto(request->result()),
        request->early_stopped(), request->checkpoint());
    if (!outcome.ok()) return outcome.status();
    *response->mutable_trial() = ToProto(outcome->trial);
    response->set_duplicate(outcome->duplicate);
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* WorkerServiceImpl::ReportResults(
    grpc::CallbackServerContext* ctx, const hwnas::v1::ReportResultsRequest* request,
    hwnas::v1::ReportResultsResponse* response) {
  return Handle(ctx, [this, request, response](const User& user) -> absl::Status {
    HWNAS_RETURN_IF_ERROR(coordinator_->AuthorizeWorker(user, request->worker_id(), false));
    std::vector<ResultReport> reports;
    reports.reserve(request->results_size());
    for (const hwnas::v1::LeaseResult& r : request->results()) {
      reports.push_back(ResultReport{r.lease_id(), FromProto(r.result()), r.early_stopped()});
    }
    absl::StatusOr<std::vector<absl::StatusOr<db::ReportOutcome>>> answers =
        coordinator_->ReportResults(request->worker_id(), reports);
    if (!answers.ok()) return answers.status();
    for (const absl::StatusOr<db::ReportOutcome>& a : *answers) {
      hwnas::v1::ReportResultsEntry* entry = response->add_entries();
      entry->set_code(static_cast<int32_t>(a.status().code()));
      if (!a.ok()) {
        entry->set_message(std::string(a.status().message()));
        continue;
      }
      *entry->mutable_trial() = ToProto(a->trial);
      entry->set_duplicate(a->duplicate);
    }
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* WorkerServiceImpl::ReportFailure(
    grpc::CallbackServerContext* ctx, const hwnas::v1::ReportFailureRequest* request,
    hwnas::v1::ReportFailureResponse* response) {
  return Handle(ctx, [this, request, response](const User& user) -> absl::Status {
    HWNAS_RETURN_IF_ERROR(coordinator_->AuthorizeWorker(user, request->worker_id(), false));
    std::optional<TrialResult> partial;
    if (request->has_partial()) partial = FromProto(request->partial());
    absl::StatusOr<db::ReportOutcome> outcome =
        coordinator_->ReportFailure(request->worker_id(), request->lease_id(), request->reason(),
                                    request->retryable(), partial, request->infeasible());
    if (!outcome.ok()) return outcome.status();
    *response->mutable_trial() = ToProto(outcome->trial);
    response->set_requeued(outcome->requeued);
    response->set_duplicate(outcome->duplicate);
    return absl::OkStatus();
  });
}

}  // namespace hwnas::server
