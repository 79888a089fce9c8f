#include "cli/client.h"

#include <algorithm>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/errors.h"
#include "common/files.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "proto/convert.h"

namespace hwnas::cli {
namespace {

namespace v1 = ::hwnas::v1;

constexpr int kSearchPageSize = 200;
constexpr int kTrialPageSize = 500;

v1::TrialOrder ToProto(TrialOrder order) {
  switch (order) {
    case TrialOrder::kNumber:
      return v1::TRIAL_ORDER_NUMBER;
    case TrialOrder::kRewardDesc:
      return v1::TRIAL_ORDER_REWARD_DESC;
    case TrialOrder::kAccuracyDesc:
      return v1::TRIAL_ORDER_ACCURACY_DESC;
    case TrialOrder::kLatencyAsc:
      return v1::TRIAL_ORDER_LATENCY_ASC;
  }
  return v1::TRIAL_ORDER_UNSPECIFIED;
}

SearchEventKind FromProto(v1::SearchEvent::Kind kind) {
  switch (kind) {
    case v1::SearchEvent::KIND_SNAPSHOT:
      return SearchEventKind::kSnapshot;
    case v1::SearchEvent::KIND_TRIAL_STARTED:
      return SearchEventKind::kTrialStarted;
    case v1::SearchEvent::KIND_TRIAL_PROGRESS:
      return SearchEventKind::kTrialProgress;
    case v1::SearchEvent::KIND_TRIAL_FINISHED:
      return SearchEventKind::kTrialFinished;
    case v1::SearchEvent::KIND_SEARCH_FINISHED:
      return SearchEventKind::kSearchFinished;
    default:
      return SearchEventKind::kUnspecified;
  }
}

bool Retryable(const grpc::Status& status) {
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

}  // namespace

SearchEvent FromProto(const v1::SearchEvent& event) {
  SearchEvent out;
  out.kind = FromProto(event.kind());
  out.search = proto::FromProto(event.search());
  if (event.has_trial()) out.trial = proto::FromProto(event.trial());
  if (event.has_progress()) out.progress = proto::FromProto(event.progress());
  return out;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const ConnectionConfig& config) {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (config.tls) {
    grpc::SslCredentialsOptions ssl;
    if (!config.tls_ca.empty()) {
      absl::StatusOr<std::string> pem = ReadWholeFile(config.tls_ca);
      if (!pem.ok()) {
        return LocalIoError(absl::StrCat("the TLS CA file: ", pem.status().message()));
      }
      ssl.pem_root_certs = *std::move(pem);
    }
    credentials = grpc::SslCredentials(ssl);
  } else {
    credentials = grpc::InsecureChannelCredentials();
  }
  return grpc::CreateChannel(config.server, credentials);
}

Client::Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : stub_(v1::SearchService::NewStub(std::move(channel))), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(const ConnectionConfig& config) {
  auto channel = MakeChannel(config);
  if (!channel.ok()) return channel.status();
  ClientOptions options;
  options.set_server(config.server).set_token(config.token).set_timeout(config.timeout);
  return std::make_unique<Client>(*std::move(channel), std::move(options));
}

void Client::Prepare(grpc::ClientContext& context, absl::Duration timeout) const {
  if (!options_.token.empty()) {
    context.AddMetadata("authorization", absl::StrCat("Bearer ", options_.token));
  }
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
}

absl::StatusOr<SearchRecord> Client::SubmitSearch(const std::string& spec_yaml,
                                                  const std::string& idempotency_key) {
  v1::SubmitSearchRequest request;
  request.set_spec_yaml(spec_yaml);
  request.set_idempotency_key(idempotency_key);
  grpc::Status status;
  const int attempts = std::max(1, options_.submit_attempts);
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    grpc::ClientContext context;
    Prepare(context, options_.timeout);
    v1::SubmitSearchResponse response;
    status = stub_->SubmitSearch(&context, request, &response);
    if (status.ok()) return proto::FromProto(response.search());
    if (!Retryable(status) || attempt == attempts) break;
    absl::SleepFor(options_.submit_backoff * attempt);
  }
  return FromGrpcStatus(status, options_.server, "SubmitSearch");
}

absl::StatusOr<SearchRecord> Client::GetSearch(int64_t search_id) {
  v1::GetSearchRequest request;
  request.set_search_id(search_id);
  grpc::ClientContext context;
  Prepare(context, options_.timeout);
  v1::Search response;
  grpc::Status status = stub_->GetSearch(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status, options_.server, "GetSearch");
  return proto::FromProto(response);
}

absl::StatusOr<std::vector<SearchRecord>> Client::ListSearches(const ListSearchesQuery& query) {
  v1::ListSearchesRequest request;
  request.set_all_owners(query.all_owners);
  request.set_owner(query.owner);
  if (query.state) request.set_state(proto::ToProto(*query.state));
  std::vector<SearchRecord> out;
  while (true) {
    int64_t page = kSearchPageSize;
    if (query.limit > 0) page = std::min<int64_t>(page, query.limit - out.size());
    request.set_page_size(static_cast<int32_t>(page));
    grpc::ClientContext context;
    Prepare(context, options_.timeout);
    v1::ListSearchesResponse response;
    grpc::Status status = stub_->ListSearches(&context, request, &response);
    if (!status.ok()) return FromGrpcStatus(status, options_.server, "ListSearches");
    for (const v1::Search& s : response.searches()) out.push_back(proto::FromProto(s));
    if (response.next_page_token().empty()) break;
    if (query.limit > 0 && static_cast<int64_t>(out.size()) >= query.limit) break;
    request.set_page_token(response.next_page_token());
  }
  if (query.limit > 0 && static_cast<int64_t>(out.size()) > query.limit) out.resize(query.limit);
  return out;
}

absl::StatusOr<SearchRecord> Client::CancelSearch(int64_t search_id) {
  v1::CancelSearchRequest request;
  request.set_search_id(search_id);
  grpc::ClientContext context;
  Prepare(context, options_.timeout);
  v1::Search response;
  grpc::Status status = stub_->CancelSearch(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status, options_.server, "CancelSearch");
  return proto::FromProto(response);
}

absl::StatusOr<std::vector<TrialRecord>> Client::ListTrials(int64_t search_id,
                                                            const ListTrialsQuery& query) {
  v1::ListTrialsRequest request;
  request.set_search_id(search_id);
  request.set_order(ToProto(query.order));
  if (query.state) request.set_state(proto::ToProto(*query.state));
  std::vector<TrialRecord> out;
  while (true) {
    int64_t page = kTrialPageSize;
    if (query.limit > 0) page = std::min<int64_t>(page, query.limit - out.size());
    request.set_page_size(static_cast<int32_t>(page));
    grpc::ClientContext context;
    Prepare(context, options_.timeout);
    v1::ListTrialsResponse response;
    grpc::Status status = stub_->ListTrials(&context, request, &response);
    if (!status.ok()) return FromGrpcStatus(status, options_.server, "ListTrials");
    for (const v1::Trial& t : response.trials()) out.push_back(proto::FromProto(t));
    if (response.next_page_token().empty()) break;
    if (query.limit > 0 && static_cast<int64_t>(out.size()) >= query.limit) break;
    request.set_page_token(response.next_page_token());
  }
  if (query.limit > 0 && static_cast<int64_t>(out.size()) > query.limit) out.resize(query.limit);
  return out;
}

absl::StatusOr<TrialRecord> Client::GetTrial(int64_t search_id, int64_t number) {
  v1::GetTrialRequest request;
  request.set_search_id(search_id);
  request.set_number(number);
  grpc::ClientContext context;
  Prepare(context, options_.timeout);
  v1::Trial response;
  grpc::Status status = stub_->GetTrial(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status, options_.server, "GetTrial");
  return proto::FromProto(response);
}

absl::StatusOr<ParetoFront> Client::GetParetoFront(int64_t search_id,
                                                   const std::vector<std::string>& metrics) {
  v1::GetParetoFrontRequest request;
  request.set_search_id(search_id);
  for (const std::string& m : metrics) request.add_metrics(m);
  grpc::ClientContext context;
  Prepare(context, options_.timeout);
  v1::GetParetoFrontResponse response;
  grpc::Status status = stub_->GetParetoFront(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status, options_.server, "GetParetoFront");
  ParetoFront front;
  for (const v1::Trial& t : response.trials()) front.trials.push_back(proto::FromProto(t));
  front.metrics.assign(response.metrics().begin(), response.metrics().end());
  front.hypervolume = response.hypervolume();
  for (const v1::NearMiss& n : response.least_violating()) {
    NearMiss near{.trial = proto::FromProto(n.trial()), .total_excess = n.total_excess()};
    for (const v1::LimitMiss& m : n.misses()) {
      near.misses.push_back(
          {.metric = m.metric(), .value = m.value(), .limit = m.limit(), .excess = m.excess()});
    }
    front.least_violating.push_back(std::move(near));
  }
  return front;
}

absl::StatusOr<std::vector<TrialRecord>> Client::EnqueueTrials(int64_t search_id,
                                                               const std::vector<GuidedRow>& rows) {
  v1::EnqueueTrialsRequest request;
  request.set_search_id(search_id);
  const bool with_lines =
      std::any_of(rows.begin(), rows.end(), [](const GuidedRow& r) { return r.line > 0; });
  for (const GuidedRow& r : rows) {
    request.add_architectures(r.architecture);
    if (with_lines) request.add_lines(r.line);
  }
  grpc::ClientContext context;
  Prepare(context, options_.timeout);
  v1::EnqueueTrialsResponse response;
  grpc::Status status = stub_->EnqueueTrials(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status, options_.server, "EnqueueTrials");
  std::vector<TrialRecord> out;
  for (const v1::Trial& t : response.trials()) out.push_back(proto::FromProto(t));
  return out;
}

absl::StatusOr<std::vector<TrialRecord>> Client::ImportTrials(int64_t search_id,
                                                              const std::vector<GuidedRow>& rows) {
  v1::ImportTrialsRequest request;
  request.set_search_id(search_id);
  for (const GuidedRow& r : rows) {
    v1::ImportedResult* p = request.add_results();
    p->set_architecture(r.architecture);
    p->set_line(r.line);
    if (r.result) *p->mutable_result() = proto::ToProto(*r.result);
  }
  grpc::ClientContext context;
  Prepare(context, options_.timeout);
  v1::ImportTrialsResponse response;
  grpc::Status status = stub_->ImportTrials(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status, options_.server, "ImportTrials");
  std::vector<TrialRecord> out;
  for (const v1::Trial& t : response.trials()) out.push_back(proto::FromProto(t));
  return out;
}

absl::Status Client::WatchSearch(int64_t search_id,
                                 const std::function<bool(const SearchEvent&)>& on_event) {
  v1::WatchSearchRequest request;
  request.set_search_id(search_id);
  grpc::ClientContext context;
  Prepare(context, options_.watch_timeout);
  {
    absl::MutexLock lock(&mu_);
    if (watch_cancelled_) return absl::CancelledError("watch cancelled");
    watch_context_ = &context;
  }
  std::unique_ptr<grpc::ClientReader<v1::SearchEvent>> reader =
      stub_->WatchSearch(&context, request);
  v1::SearchEvent event;
  bool stopped_by_caller = false;
  bool finished = false;
  while (reader->Read(&event)) {
    SearchEvent e = FromProto(event);
    finished = e.kind == SearchEventKind::kSearchFinished;
    if (!on_event(e) || finished) {
      stopped_by_caller = !finished;
      context.TryCancel();
      break;
    }
  }
  grpc::Status status = reader->Finish();
  bool cancelled;
  {
    absl::MutexLock lock(&mu_);
    watch_context_ = nullptr;
    cancelled = watch_cancelled_;
  }
  if (cancelled) return absl::CancelledError("watch cancelled");
  // Ending the stream ourselves reads as CANCELLED from gRPC: that is success.
  if (stopped_by_caller || finished) {
    return absl::OkStatus();
  }
  if (status.ok()) {
    return absl::UnavailableError(absl::StrCat("the server at ", options_.server,
                                               " ended the watch stream before the search "
                                               "finished"));
  }
  return FromGrpcStatus(status, options_.server, "WatchSearch");
}

void Client::CancelWatch() {
  absl::MutexLock lock(&mu_);
  watch_cancelled_ = true;
  if (watch_context_ != nullptr) watch_context_->TryCancel();
}

std::string NewIdempotencyKey() {
  std::random_device rd;
  std::string key;
  for (int i = 0; i < 4; ++i) absl::StrAppendFormat(&key, "%08x", rd());
  return key;
}

}  // namespace hwnas::cli
