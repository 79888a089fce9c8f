#include "server/coordinator.h"

#include <utility>

#include "common/status_macros.h"
#include "server/search_runtime.h"
#include "spdlog/spdlog.h"

namespace hwnas::server {

Coordinator::Coordinator(db::Store* store, Executor* executor, Metrics* metrics,
                         CoordinatorOptions options, const Clock& clock)
    : metrics_(metrics),
      options_(std::move(options)),
      clock_(clock),
      searches_(store, executor, metrics, &options_, &leases_),
      leases_(store, executor, metrics, &options_, &clock_, &searches_),
      results_(store, metrics, &options_, &searches_, &leases_),
      dnas_(store, &searches_, &leases_) {}

Coordinator::~Coordinator() { Stop(); }

absl::Status Coordinator::Start() {
  HWNAS_ASSIGN_OR_RETURN(int64_t running, searches_.LoadRunning());
  leases_.Resume();
  {
    absl::MutexLock lock(&mu_);
    stopping_ = false;
    maintenance_running_ = true;
  }
  maintenance_ = std::thread([this] { MaintenanceLoop(); });
  spdlog::info("event=coordinator_started searches={}", running);
  return absl::OkStatus();
}

void Coordinator::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_ && !maintenance_running_) return;
    stopping_ = true;
  }
  // No new long-poll parks from here on; those parked are answered.
  leases_.Stop();
  if (maintenance_.joinable()) maintenance_.join();
  absl::MutexLock lock(&mu_);
  maintenance_running_ = false;
}

void Coordinator::MaintenanceRound() {
  leases_.ExpireLeases();
  searches_.ReloadAndResync();
  metrics_->SetWorkersAlive(leases_.AliveWorkers());
  metrics_->SetInMemory(searches_.RunningCount(), SearchRuntime::LiveCount(), leases_.LeaseCount());
  leases_.TryWaiters();
}

void Coordinator::MaintenanceLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.maintenance_interval);
      if (stopping_) return;
    }
    MaintenanceRound();
  }
}

}  // namespace hwnas::server
