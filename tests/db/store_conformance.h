// One suite of store tests that every db::Store implementation must pass
// (store_conformance.cc). A binary instantiates it for its backend:
// store_test for PostgreSQL on the private test cluster, store_memory_test
// for MemoryStore (no database needed).
#ifndef HWNAS_TESTS_DB_STORE_CONFORMANCE_H_
#define HWNAS_TESTS_DB_STORE_CONFORMANCE_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "db/store.h"
#include "gtest/gtest.h"

namespace hwnas::db::conformance {

// What the suite needs from an implementation besides the Store itself.
class StoreBackend {
 public:
  virtual ~StoreBackend() = default;
  // A new, empty store with the current schema.
  virtual absl::StatusOr<std::unique_ptr<Store>> NewStore() = 0;
  // Lets `d` pass as the store sees time (a fake clock moves; PostgreSQL,
  // which reads its own now(), is waited for).
  virtual void Wait(absl::Duration d) = 0;
  // The rows a SQL query returns ("a|b" per row, rows joined by newlines)
  // on the store made last, to check the tables behind the API; nullopt for
  // an implementation without SQL.
  virtual std::optional<std::string> Sql(const std::string& sql) = 0;
};

struct BackendParam {
  std::string name;
  std::unique_ptr<StoreBackend> (*make)();
};

inline std::string BackendName(const ::testing::TestParamInfo<BackendParam>& info) {
  return info.param.name;
}

class StoreConformanceTest : public ::testing::TestWithParam<BackendParam> {
 protected:
  void SetUp() override;

  int64_t NewSearchId(int64_t budget = 100, std::string name = "s");
  Lease MustLease(int64_t search_id, const std::string& worker,
                  absl::Duration ttl = absl::Seconds(30));
  StoreBackend& backend() { return *backend_; }

  std::unique_ptr<StoreBackend> backend_;
  std::unique_ptr<Store> store_;
  User alice_;
};

Architecture Arch(std::vector<int> tokens);
NewTrial Pending(std::vector<int> tokens);
TrialResult SampleResult(double accuracy);

}  // namespace hwnas::db::conformance

#endif  // HWNAS_TESTS_DB_STORE_CONFORMANCE_H_
