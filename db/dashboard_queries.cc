#include "db/dashboard_queries.h"

#include <algorithm>
#include <functional>
#include <map>
#include <pqxx/pqxx>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/trial.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace hwnas::db {
namespace {

// Timestamps cross the boundary as integer microseconds since the epoch.
#define HWNAS_DASH_MICROS(col) "(EXTRACT(EPOCH FROM " col ") * 1000000)::bigint"

// What a table row shows; matches ParseRow().
constexpr char kRowColumns[] =
    "t.number, t.state, t.attempts, COALESCE(t.worker_id, ''), t.readable, t.accuracy, t.loss, "
    "t.latency_median_ms, t.latency_p90_ms, t.params, t.macs, t.peak_activation_bytes, "
    "t.flash_bytes, t.estimates::text, t.train_seconds, t.epochs, t.reward, t.failure_reason, "
    "t.search_id, " HWNAS_DASH_MICROS("t.created_at") ", " HWNAS_DASH_MICROS(
        "t.started_at") ", " HWNAS_DASH_MICROS("t.finished_at");

std::optional<absl::Time> OptTime(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return absl::FromUnixMicros(f.as<int64_t>());
}

template <typename T>
T Or(const pqxx::field& f, T fallback) {
  return f.is_null() ? fallback : f.as<T>();
}

absl::StatusOr<TrialRecord> ParseRow(const pqxx::row& r) {
  TrialRecord t;
  t.number = r[0].as<int64_t>();
  HWNAS_ASSIGN_OR_RETURN(t.state, ParseTrialState(r[1].as<std::string>()));
  t.attempts = r[2].as<int>();
  t.worker_id = r[3].as<std::string>();
  t.architecture.readable = r[4].as<std::string>();
  // As Store: a trial has a result once it has an accuracy or costs.
  if (!r[5].is_null() || !r[9].is_null()) {
    TrialResult res;
    res.accuracy = Or<double>(r[5], 0);
    res.loss = Or<double>(r[6], 0);
    if (!r[7].is_null()) {
      LatencyMeasurement lat;
      lat.median_ms = r[7].as<double>();
      lat.p90_ms = Or<double>(r[8], 0);
      res.latency = lat;
    }
    res.costs.params = Or<int64_t>(r[9], 0);
    res.costs.macs = Or<int64_t>(r[10], 0);
    res.costs.peak_activation_bytes = Or<int64_t>(r[11], 0);
    res.costs.flash_bytes = Or<int64_t>(r[12], 0);
    nlohmann::json estimates = nlohmann::json::parse(r[13].as<std::string>(), nullptr, false);
    if (estimates.is_object()) {
      for (const auto& [k, v] : estimates.items()) {
        if (v.is_number()) res.estimates[k] = v.get<double>();
      }
    }
    res.train_seconds = Or<double>(r[14], 0);
    res.epochs = Or<int>(r[15], 0);
    t.result = std::move(res);
  }
  if (!r[16].is_null()) t.reward = r[16].as<double>();
  t.failure_reason = r[17].as<std::string>();
  t.search_id = r[18].as<int64_t>();
  t.created_at = absl::FromUnixMicros(r[19].as<int64_t>());
  t.started_at = OptTime(r[20]);
  t.finished_at = OptTime(r[21]);
  return t;
}

// SQL for a metric, reading the estimate named by parameter $slot (bound to
// the metric's name) when it is not one of the columns.
absl::StatusOr<std::string> MetricSql(absl::string_view name, int slot) {
  static const std::map<std::string, std::string, std::less<>> kColumns = {
      {"accuracy", "t.accuracy"},
      {"loss", "t.loss"},
      {"reward", "t.reward"},
      {"latency_ms", "t.latency_median_ms"},
      {"latency_p90_ms", "t.latency_p90_ms"},
      {"params", "NULLIF(t.params, 0)::float8"},
      {"macs", "NULLIF(t.macs, 0)::float8"},
      {"peak_memory_bytes", "NULLIF(t.peak_activation_bytes, 0)::float8"},
      {"flash_bytes", "NULLIF(t.flash_bytes, 0)::float8"},
      {"train_seconds", "t.train_seconds"}};
  auto it = kColumns.find(name);
  if (it == kColumns.end() && !IsKnownMetricName(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metric '", name,
        "' is unknown (accuracy, loss, reward, latency_ms, latency_p90_ms, params, macs, "
        "peak_memory_bytes, flash_bytes, train_seconds or an estimate like latency_ms@target)"));
  }
  return absl::StrCat("COALESCE(", it == kColumns.end() ? "NULL::float8" : it->second,
                      ", (t.estimates->>$", slot, "::text)::float8)");
}

// Optional values travel as text, "" meaning NULL (the SQL applies NULLIF).
std::string Opt(const std::optional<double>& v) { return v ? absl::StrCat(*v) : std::string(); }

}  // namespace

// Connections made on demand, at most `size` at once; a broken one is
// dropped and the next call reconnects.
class DashboardQueries::Pool {
 public:
  Pool(std::string connection_string, int size)
      : connection_string_(std::move(connection_string)), size_(std::max(1, size)) {}

  // Runs `body` on a pooled connection; libpqxx exceptions end here.
  template <typename T>
  absl::StatusOr<T> Run(absl::string_view what,
                        const std::function<absl::StatusOr<T>(pqxx::connection&)>& body) {
    std::unique_ptr<pqxx::connection> c;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Pool* self) { return !self->idle_.empty() || self->open_ < self->size_; }, this));
      if (!idle_.empty()) {
        c = std::move(idle_.back());
        idle_.pop_back();
      } else {
        ++open_;
      }
    }
    try {
      if (c == nullptr) c = std::make_unique<pqxx::connection>(connection_string_);
      absl::StatusOr<T> result = body(*c);
      absl::MutexLock lock(&mu_);
      idle_.push_back(std::move(c));
      return result;
    } catch (const pqxx::data_exception& e) {
      Log(what, e);
      Give(std::move(c));
      return absl::InvalidArgumentError(absl::StrCat(what, ": a value is out of range"));
    } catch (const pqxx::broken_connection& e) {
      Log(what, e);
      Forget();
      return absl::UnavailableError(absl::StrCat(what, ": lost the database connection (retry)"));
    } catch (const std::exception& e) {
      // A session that failed in an unknown way is not reused.
      Log(what, e);
      Forget();
      return absl::InternalError(
          absl::StrCat(what, ": the database failed (the server log has the details)"));
    }
  }

 private:
  // PostgreSQL's text goes to the operator's log, never to a client.
  static void Log(absl::string_view what, const std::exception& e) {
    std::string first(e.what());
    first = first.substr(0, first.find('\n'));
    spdlog::warn("event=dashboard_query_error op=\"{}\" error=\"{}\"", std::string(what),
                 RedactSecrets(first));
  }

  void Give(std::unique_ptr<pqxx::connection> c) {
    absl::MutexLock lock(&mu_);
    if (c != nullptr && c->is_open()) {
      idle_.push_back(std::move(c));
    } else {
      --open_;
    }
  }

  void Forget() {
    absl::MutexLock lock(&mu_);
    --open_;
  }

  const std::string connection_string_;
  const int size_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
};

DashboardQueries::DashboardQueries(std::string connection_string, int pool_size)
    : pool_(std::make_unique<Pool>(std::move(connection_string), pool_size)) {}

DashboardQueries::~DashboardQueries() = default;

absl::StatusOr<Page<TrialRecord>> DashboardQueries::FilterTrials(const TrialFilter& f) {
  int offset = 0;
  if (!f.page_token.empty() && (!absl::SimpleAtoi(f.page_token, &offset) || offset < 0)) {
    return absl::InvalidArgumentError(absl::StrCat("page_token '", f.page_token, "' is invalid"));
  }
  if (f.metric.empty() && (f.min || f.max)) {
    return absl::InvalidArgumentError("a min/max filter needs a metric");
  }
  const int limit = std::clamp(f.page_size <= 0 ? 100 : f.page_size, 1, 1000);
  const std::string filter_metric = f.metric.empty() ? "accuracy" : f.metric;
  HWNAS_ASSIGN_OR_RETURN(std::string filter_sql, MetricSql(filter_metric, 7));
  std::string order = "t.number";
  std::string order_metric = "number";
  if (!f.order_by.empty() && f.order_by != "number") {
    order_metric = f.order_by;
    HWNAS_ASSIGN_OR_RETURN(std::string sql, MetricSql(f.order_by, 8));
    order = absl::StrCat(sql, f.descending ? " DESC" : " ASC", " NULLS LAST, t.number");
  } else if (f.descending) {
    order = "t.number DESC";
  }
  // $7/$8 are typed where they appear; each is also compared with itself so
  // it is typed when its metric is a column.
  const std::string sql = absl::StrCat(
      "SELECT ", kRowColumns,
      " FROM trials t WHERE t.search_id = $1 AND ($2 = '' OR t.state = $2) AND ($5 = '' OR ",
      filter_sql, " >= NULLIF($5, '')::float8) AND ($6 = '' OR ", filter_sql,
      " <= NULLIF($6, '')::float8) AND $7::text = $7::text AND $8::text = $8::text ORDER BY ",
      order, " LIMIT $3 OFFSET $4");
  const std::string state = f.state ? std::string(TrialStateName(*f.state)) : "";
  return pool_->Run<Page<TrialRecord>>(
      "filter trials", [&](pqxx::connection& c) -> absl::StatusOr<Page<TrialRecord>> {
        pqxx::nontransaction txn(c);
        if (txn.exec_params("SELECT 1 FROM searches WHERE id = $1", f.search_id).empty()) {
          return absl::NotFoundError(absl::StrCat("search ", f.search_id, " does not exist"));
        }
        pqxx::result r = txn.exec_params(sql, f.search_id, state, limit + 1, offset, Opt(f.min),
                                         Opt(f.max), filter_metric, order_metric);
        Page<TrialRecord> page;
        for (const pqxx::row& row : r) {
          if (static_cast<int>(page.items.size()) == limit) {
            page.next_page_token = absl::StrCat(offset + limit);
            break;
          }
          HWNAS_ASSIGN_OR_RETURN(TrialRecord t, ParseRow(row));
          page.items.push_back(std::move(t));
        }
        return page;
      });
}

absl::StatusOr<std::vector<TrialPoint>> DashboardQueries::FinishedPoints(int64_t search_id,
                                                                         absl::string_view x,
                                                                         absl::string_view y) {
  HWNAS_ASSIGN_OR_RETURN(std::string x_sql, MetricSql(x, 2));
  HWNAS_ASSIGN_OR_RETURN(std::string y_sql, MetricSql(y, 3));
  // The finish-sequence index holds exactly these rows, in this order.
  const std::string sql =
      absl::StrCat("SELECT t.number, t.state, t.finish_seq, ", HWNAS_DASH_MICROS("t.finished_at"),
                   ", ", x_sql, ", ", y_sql,
                   " FROM trials t WHERE t.search_id = $1 AND t.finish_seq IS NOT NULL "
                   "ORDER BY t.finish_seq");
  return pool_->Run<std::vector<TrialPoint>>(
      "finished points", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<TrialPoint>> {
        pqxx::nontransaction txn(c);
        pqxx::result r = txn.exec_params(sql, search_id, std::string(x), std::string(y));
        std::vector<TrialPoint> out;
        out.reserve(r.size());
        for (const pqxx::row& row : r) {
          TrialPoint p;
          p.number = row[0].as<int64_t>();
          HWNAS_ASSIGN_OR_RETURN(p.state, ParseTrialState(row[1].as<std::string>()));
          p.finish_seq = row[2].as<int64_t>();
          if (!row[3].is_null()) p.finished_at = absl::FromUnixMicros(row[3].as<int64_t>());
          if (!row[4].is_null()) p.x = row[4].as<double>();
          if (!row[5].is_null()) p.y = row[5].as<double>();
          out.push_back(p);
        }
        return out;
      });
}

absl::StatusOr<std::vector<TokenRow>> DashboardQueries::SucceededTokens(
    int64_t search_id, const std::vector<std::string>& metrics) {
  if (metrics.empty() || metrics.size() > 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics: give 1 to 4 names, not ", metrics.size()));
  }
  std::string columns;
  for (size_t i = 0; i < metrics.size(); ++i) {
    HWNAS_ASSIGN_OR_RETURN(std::string sql, MetricSql(metrics[i], static_cast<int>(i) + 2));
    absl::StrAppend(&columns, ", ", sql);
  }
  // Unused slots are bound to "" and compared with themselves (typed).
  std::vector<std::string> names = metrics;
  names.resize(4);
  const std::string sql = absl::StrCat(
      "SELECT array_to_string(t.tokens, ',')", columns,
      " FROM trials t WHERE t.search_id = $1 AND t.state = 'SUCCEEDED' AND $2::text = $2::text "
      "AND $3::text = $3::text AND $4::text = $4::text AND $5::text = $5::text");
  return pool_->Run<std::vector<TokenRow>>(
      "succeeded tokens", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<TokenRow>> {
        pqxx::nontransaction txn(c);
        pqxx::result r = txn.exec_params(sql, search_id, names[0], names[1], names[2], names[3]);
        std::vector<TokenRow> out;
        out.reserve(r.size());
        for (const pqxx::row& row : r) {
          TokenRow t;
          for (absl::string_view tok :
               absl::StrSplit(row[0].as<std::string>(), ',', absl::SkipEmpty())) {
            int v = 0;
            if (!absl::SimpleAtoi(tok, &v)) {
              return absl::DataLossError("stored token list is corrupt");
            }
            t.tokens.push_back(v);
          }
          for (size_t i = 0; i < metrics.size(); ++i) {
            const pqxx::field f = row[static_cast<int>(i) + 1];
            t.values.push_back(f.is_null() ? std::nullopt : std::optional<double>(f.as<double>()));
          }
          out.push_back(std::move(t));
        }
        return out;
      });
}

}  // namespace hwnas::db
