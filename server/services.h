// gRPC adapters: FromProto -> Coordinator -> ToProto. Each handler moves its
// work onto the executor so gRPC's threads never wait on the database.
#ifndef HWNAS_SERVER_SERVICES_H_
#define HWNAS_SERVER_SERVICES_H_

#include "hwnas/v1/search_service.grpc.pb.h"
#include "hwnas/v1/worker_service.grpc.pb.h"
#include "proto/grpc_status.h"
#include "server/auth.h"
#include "server/coordinator.h"
#include "server/executor.h"
#include "server/metrics.h"

namespace hwnas::server {

// absl::Status -> grpc::Status for every handler (proto/grpc_status.h).
using ::hwnas::proto::ToGrpc;

class SearchServiceImpl final : public hwnas::v1::SearchService::CallbackService {
 public:
  SearchServiceImpl(Coordinator* coordinator, Authenticator* auth, Executor* executor,
                    Metrics* metrics)
      : coordinator_(coordinator), auth_(auth), executor_(executor), metrics_(metrics) {}

  grpc::ServerUnaryReactor* SubmitSearch(grpc::CallbackServerContext* ctx,
                                         const hwnas::v1::SubmitSearchRequest* request,
                                         hwnas::v1::SubmitSearchResponse* response) override;
  grpc::ServerUnaryReactor* GetSearch(grpc::CallbackServerContext* ctx,
                                      const hwnas::v1::GetSearchRequest* request,
                                      hwnas::v1::Search* response) override;
  grpc::ServerUnaryReactor* ListSearches(grpc::CallbackServerContext* ctx,
                                         const hwnas::v1::ListSearchesRequest* request,
                                         hwnas::v1::ListSearchesResponse* response) override;
  grpc::ServerUnaryReactor* CancelSearch(grpc::CallbackServerContext* ctx,
                                         const hwnas::v1::CancelSearchRequest* request,
                                         hwnas::v1::Search* response) override;
  grpc::ServerUnaryReactor* ListTrials(grpc::CallbackServerContext* ctx,
                                       const hwnas::v1::ListTrialsRequest* request,
                                       hwnas::v1::ListTrialsResponse* response) override;
  grpc::ServerUnaryReactor* GetTrial(grpc::CallbackServerContext* ctx,
                                     const hwnas::v1::GetTrialRequest* request,
                                     hwnas::v1::Trial* response) override;
  grpc::ServerUnaryReactor* GetParetoFront(grpc::CallbackServerContext* ctx,
                                           const hwnas::v1::GetParetoFrontRequest* request,
                                           hwnas::v1::GetParetoFrontResponse* response) override;
  grpc::ServerUnaryReactor* EnqueueTrials(grpc::CallbackServerContext* ctx,
                                          const hwnas::v1::EnqueueTrialsRequest* request,
                                          hwnas::v1::EnqueueTrialsResponse* response) override;
  grpc::ServerUnaryReactor* ImportTrials(grpc::CallbackServerContext* ctx,
                                         const hwnas::v1::ImportTrialsRequest* request,
                                         hwnas::v1::ImportTrialsResponse* response) override;
  grpc::ServerWriteReactor<hwnas::v1::SearchEvent>* WatchSearch(
      grpc::CallbackServerContext* ctx, const hwnas::v1::WatchSearchRequest* request) override;

 private:
  // Authenticates, then runs `body(user)` on the executor and finishes the
  // call with its status.
  template <typename Body>
  grpc::ServerUnaryReactor* Handle(grpc::CallbackServerContext* ctx, Body body);

  Coordinator* const coordinator_;
  Authenticator* const auth_;
  Executor* const executor_;
  Metrics* const metrics_;
};

class WorkerServiceImpl final : public hwnas::v1::WorkerService::CallbackService {
 public:
  WorkerServiceImpl(Coordinator* coordinator, Authenticator* auth, Executor* executor,
                    Metrics* metrics)
      : coordinator_(coordinator), auth_(auth), executor_(executor), metrics_(metrics) {}

  grpc::ServerUnaryReactor* RegisterWorker(grpc::CallbackServerContext* ctx,
                                           const hwnas::v1::RegisterWorkerRequest* request,
                                           hwnas::v1::RegisterWorkerResponse* response) override;
  grpc::ServerUnaryReactor* AcquireTrial(grpc::CallbackServerContext* ctx,
                                         const hwnas::v1::AcquireTrialRequest* request,
                                         hwnas::v1::AcquireTrialResponse* response) override;
  grpc::ServerUnaryReactor* ReportProgress(grpc::CallbackServerContext* ctx,
                                           const hwnas::v1::ReportProgressRequest* request,
                                           hwnas::v1::ReportProgressResponse* response) override;
  grpc::ServerUnaryReactor* ReportResult(grpc::CallbackServerContext* ctx,
                                         const hwnas::v1::ReportResultRequest* request,
                                         hwnas::v1::ReportResultResponse* response) override;
  grpc::ServerUnaryReactor* ReportResults(grpc::CallbackServerContext* ctx,
                                          const hwnas::v1::ReportResultsRequest* request,
                                          hwnas::v1::ReportResultsResponse* response) override;
  grpc::ServerUnaryReactor* ReportFailure(grpc::CallbackServerContext* ctx,
                                          const hwnas::v1::ReportFailureRequest* request,
                                          hwnas::v1::ReportFailureResponse* response) override;

 private:
  template <typename Body>
  grpc::ServerUnaryReactor* Handle(grpc::CallbackServerContext* ctx, Body body);

  Coordinator* const coordinator_;
  Authenticator* const auth_;
  Executor* const executor_;
  Metrics* const metrics_;
};

}  // namespace hwnas::server

#endif  // HWNAS_SERVER_SERVICES_H_
