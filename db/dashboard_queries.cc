#include "db/dashboard_queries.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <pqxx/pqxx>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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
        "t.started_at") ", " HWNAS_DASH_MICROS("t.finished_at") ", t.accuracy_se, "
                                                                 "t.balanced_accuracy, t.macro_f1, "
                                                                 "t.fold_accuracy::text";
// After kRowColumns, the sort metric's value (NULL when ordering by number or
// among the trials without a value), for the next page's token.
constexpr int kSortValueColumn = 26;

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
    // Cross-validation (#23): the standard error and folds only for
    // cross-validated trials; balanced accuracy and macro-F1 for any trained
    // one.
    res.accuracy_se = Or<double>(r[22], 0);
    if (!r[23].is_null()) res.balanced_accuracy = r[23].as<double>();
    if (!r[24].is_null()) res.macro_f1 = r[24].as<double>();
    if (!r[25].is_null()) {
      nlohmann::json folds = nlohmann::json::parse(r[25].as<std::string>(), nullptr, false);
      if (folds.is_array()) {
        for (const auto& v : folds) {
          if (v.is_number()) res.fold_accuracy.push_back(v.get<double>());
        }
      }
    }
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

// SQL for a metric, as MetricValue() reads it: a column for the names that
// have one (bare, so an index on it serves sorts), else the estimate named by
// parameter $slot (bound to the metric's name).
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
      {"train_seconds", "t.train_seconds"},
      {"balanced_accuracy", "t.balanced_accuracy"},
      {"macro_f1", "t.macro_f1"},
      // Stored only for cross-validated trials (NULL otherwise).
      {"accuracy_se", "t.accuracy_se"}};
  if (auto it = kColumns.find(name); it != kColumns.end()) return it->second;
  if (!IsKnownMetricName(name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metric '", name,
        "' is unknown (accuracy, loss, reward, latency_ms, latency_p90_ms, params, macs, "
        "peak_memory_bytes, flash_bytes, train_seconds, balanced_accuracy, macro_f1, "
        "accuracy_se or an estimate like latency_ms@target)"));
  }
  return absl::StrCat("(t.estimates->>$", slot, "::text)::float8");
}

// Where a page starts: after the last row of the page before, by its sort
// key (keyset paging: a deep page costs what the first one does, where
// OFFSET read and dropped every row before it). Tokens are opaque to
// clients: "n<number>" (by number), "v<value>:<number>" (a metric's value,
// %.17g so it reads back exactly) or "z<number>" (past every value, among
// the trials without one).
struct PageKey {
  enum Kind { kStart, kNumber, kValue, kNull } kind = kStart;
  double value = 0;
  int64_t number = 0;
};

absl::StatusOr<PageKey> ParsePageKey(const std::string& token, bool by_number) {
  PageKey k;
  if (token.empty()) return k;
  const auto bad = [&] {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_token '", token, "' is invalid (pass back the next_page_token of the same query)"));
  };
  const absl::string_view rest = absl::string_view(token).substr(1);
  if (token[0] == 'n' && by_number) {
    k.kind = PageKey::kNumber;
    if (!absl::SimpleAtoi(rest, &k.number)) return bad();
    return k;
  }
  if (token[0] == 'z' && !by_number) {
    k.kind = PageKey::kNull;
    if (!absl::SimpleAtoi(rest, &k.number)) return bad();
    return k;
  }
  if (token[0] == 'v' && !by_number) {
    k.kind = PageKey::kValue;
    std::vector<absl::string_view> parts = absl::StrSplit(rest, ':');
    if (parts.size() != 2 || !absl::SimpleAtod(parts[0], &k.value) || !std::isfinite(k.value) ||
        !absl::SimpleAtoi(parts[1], &k.number)) {
      return bad();
    }
    return k;
  }
  return bad();
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

absl::StatusOr<SearchHead> DashboardQueries::Head(int64_t search_id) {
  return pool_->Run<SearchHead>(
      "search head", [&](pqxx::connection& c) -> absl::StatusOr<SearchHead> {
        pqxx::nontransaction txn(c);
        pqxx::result r = txn.exec_params(
            "SELECT s.owner_id, s.state, COALESCE(f.next_finish_seq - 1, 0), " HWNAS_DASH_MICROS(
                "s.created_at") " FROM searches s "
            "LEFT JOIN search_finish_counters f ON f.search_id = s.id WHERE s.id = $1",
            search_id);
        if (r.empty()) {
          return absl::NotFoundError(absl::StrCat("search ", search_id, " does not exist"));
        }
        SearchHead h;
        h.owner_id = r[0][0].as<int64_t>();
        HWNAS_ASSIGN_OR_RETURN(h.state, ParseSearchState(r[0][1].as<std::string>()));
        h.finish_seq = r[0][2].as<int64_t>();
        h.created_at = absl::FromUnixMicros(r[0][3].as<int64_t>());
        return h;
      });
}

absl::StatusOr<Page<TrialRecord>> DashboardQueries::FilterTrials(const TrialFilter& f) {
  if (f.metric.empty() && (f.min || f.max)) {
    return absl::InvalidArgumentError("a min/max filter needs a metric");
  }
  const int limit = std::clamp(f.page_size <= 0 ? 100 : f.page_size, 1, 1000);
  const std::string filter_metric = f.metric.empty() ? "accuracy" : f.metric;
  HWNAS_ASSIGN_OR_RETURN(std::string filter_sql, MetricSql(filter_metric, 7));
  const bool by_number = f.order_by.empty() || f.order_by == "number";
  const std::string order_metric = by_number ? "number" : f.order_by;
  std::string m = "t.number";
  if (!by_number) {
    HWNAS_ASSIGN_OR_RETURN(m, MetricSql(f.order_by, 8));
  }
  HWNAS_ASSIGN_OR_RETURN(PageKey key, ParsePageKey(f.page_token, by_number));
  const char* dir = f.descending ? " DESC" : " ASC";
  const char* after = f.descending ? " < " : " > ";
  // Parameters: $1 search, $2 state or '', $3 limit, $4 the key's value,
  // $5/$6 min/max or '', $7/$8 the filter's and the order's metric names,
  // $9 the key's trial number. Text ones are typed by a first use as text.
  const std::string where = absl::StrCat(
      " FROM trials t WHERE t.search_id = $1 AND $4::text = $4::text AND $7::text = $7::text "
      "AND $8::text = $8::text AND $9::text = $9::text AND ($2 = '' OR t.state = $2) AND "
      "($5 = '' OR ",
      filter_sql, " >= NULLIF($5, '')::float8) AND ($6 = '' OR ", filter_sql,
      " <= NULLIF($6, '')::float8)");
  // By number: one statement. By a metric: the trials with a value, in the
  // metric's order (ties by number in the same direction, so one index on
  // (search_id, metric, number) serves both directions: migration 0010),
  // then, when the page is not full, those without one by number.
  std::string valued_sql;
  std::string null_sql;
  if (by_number) {
    valued_sql = absl::StrCat(
        "SELECT ", kRowColumns, ", NULL::float8", where,
        key.kind == PageKey::kNumber ? absl::StrCat(" AND t.number", after, "$9::bigint") : "",
        " ORDER BY t.number", dir, " LIMIT $3");
  } else {
    if (key.kind != PageKey::kNull) {
      std::string from_key;
      if (key.kind == PageKey::kValue) {
        // The range bound is an index condition; equal values before the
        // key's trial are then dropped.
        from_key = absl::StrCat(" AND ", m,
                                f.descending ? " <= " : " >= ", "NULLIF($4, '')::float8 AND NOT (",
                                m, " = NULLIF($4, '')::float8 AND t.number",
                                f.descending ? " >= " : " <= ", "$9::bigint)");
      }
      valued_sql = absl::StrCat("SELECT ", kRowColumns, ", ", m, where, " AND ", m, " IS NOT NULL",
                                from_key, " ORDER BY ", m, dir, ", t.number", dir, " LIMIT $3");
    }
    null_sql = absl::StrCat(
        "SELECT ", kRowColumns, ", NULL::float8", where, " AND ", m, " IS NULL",
        key.kind == PageKey::kNull ? absl::StrCat(" AND t.number", after, "$9::bigint") : "",
        " ORDER BY t.number", dir, " LIMIT $3");
  }
  const std::string state = f.state ? std::string(TrialStateName(*f.state)) : "";
  const std::string key_value =
      key.kind == PageKey::kValue ? absl::StrFormat("%.17g", key.value) : "";
  const std::string key_number = absl::StrCat(key.number);
  return pool_->Run<Page<TrialRecord>>(
      "filter trials", [&](pqxx::connection& c) -> absl::StatusOr<Page<TrialRecord>> {
        pqxx::nontransaction txn(c);
        if (txn.exec_params("SELECT 1 FROM searches WHERE id = $1", f.search_id).empty()) {
          return absl::NotFoundError(absl::StrCat("search ", f.search_id, " does not exist"));
        }
        // One row past the page says whether there is a next one.
        std::vector<std::pair<TrialRecord, std::optional<double>>> rows;
        for (const std::string* sql : {&valued_sql, &null_sql}) {
          if (sql->empty() || static_cast<int>(rows.size()) > limit) continue;
          const int want = limit + 1 - static_cast<int>(rows.size());
          pqxx::result r = txn.exec_params(*sql, f.search_id, state, want, key_value, Opt(f.min),
                                           Opt(f.max), filter_metric, order_metric, key_number);
          for (const pqxx::row& row : r) {
            HWNAS_ASSIGN_OR_RETURN(TrialRecord t, ParseRow(row));
            std::optional<double> v;
            if (sql == &valued_sql && !by_number) v = row[kSortValueColumn].as<double>();
            rows.emplace_back(std::move(t), v);
          }
        }
        Page<TrialRecord> page;
        if (static_cast<int>(rows.size()) > limit) {
          const auto& [last, value] = rows[limit - 1];
          page.next_page_token = by_number ? absl::StrCat("n", last.number)
                                 : value   ? absl::StrFormat("v%.17g:%d", *value, last.number)
                                           : absl::StrCat("z", last.number);
          rows.resize(limit);
        }
        for (auto& [t, v] : rows) page.items.push_back(std::move(t));
        return page;
      });
}

absl::StatusOr<std::vector<TrialPoint>> DashboardQueries::FinishedPoints(int64_t search_id,
                                                                         absl::string_view x,
                                                                         absl::string_view y) {
  HWNAS_ASSIGN_OR_RETURN(std::string x_sql, MetricSql(x, 2));
  HWNAS_ASSIGN_OR_RETURN(std::string y_sql, MetricSql(y, 3));
  // The finish-sequence index holds exactly these rows, in this order. Only
  // what the scatter needs: 100,000 rows are read per answer.
  const std::string sql =
      absl::StrCat("SELECT t.number, t.state, ", x_sql, ", ", y_sql,
                   " FROM trials t WHERE t.search_id = $1 AND t.finish_seq IS NOT NULL "
                   // Typed even when neither metric reads its name.
                   "AND $2::text = $2::text AND $3::text = $3::text ORDER BY t.finish_seq");
  return pool_->Run<std::vector<TrialPoint>>(
      "finished points", [&](pqxx::connection& c) -> absl::StatusOr<std::vector<TrialPoint>> {
        pqxx::nontransaction txn(c);
        pqxx::result r = txn.exec_params(sql, search_id, std::string(x), std::string(y));
        std::vector<TrialPoint> out;
        out.reserve(r.size());
        // The state column takes a handful of values: parsed once each.
        std::map<std::string, TrialState, std::less<>> states;
        for (const pqxx::row& row : r) {
          TrialPoint p;
          p.number = row[0].as<int64_t>();
          const absl::string_view state(row[1].c_str(), row[1].size());
          auto it = states.find(state);
          if (it == states.end()) {
            HWNAS_ASSIGN_OR_RETURN(TrialState parsed, ParseTrialState(state));
            it = states.emplace(std::string(state), parsed).first;
          }
          p.state = it->second;
          if (!row[2].is_null()) p.x = row[2].as<double>();
          if (!row[3].is_null()) p.y = row[3].as<double>();
          out.push_back(p);
        }
        return out;
      });
}

absl::StatusOr<BestSoFarSeries> DashboardQueries::BestSoFar(int64_t search_id,
                                                            absl::string_view metric,
                                                            bool maximize) {
  HWNAS_ASSIGN_OR_RETURN(std::string m, MetricSql(metric, 2));
  const char* agg = maximize ? "max" : "min";
  const char* beats = maximize ? " > " : " < ";
  // `prev` is the best finite SUCCEEDED value strictly before each row; the
  // last finished trial is added so the line reaches it.
  const std::string sql = absl::StrCat(
      "WITH f AS (SELECT t.number, t.state, t.finished_at, ", m,
      " AS v, row_number() OVER (ORDER BY t.finish_seq) AS n FROM trials t "
      "WHERE t.search_id = $1 AND t.finish_seq IS NOT NULL AND $2::text = $2::text), "
      "g AS (SELECT f.*, f.state = 'SUCCEEDED' AND f.v IS NOT NULL AND f.v <> 'NaN'::float8 AND "
      "f.v < 'Infinity'::float8 AND f.v > '-Infinity'::float8 AS ok FROM f), "
      "h AS (SELECT g.*, ",
      agg,
      "(CASE WHEN g.ok THEN g.v END) OVER (ORDER BY g.n ROWS BETWEEN UNBOUNDED PRECEDING AND 1 "
      "PRECEDING) AS prev FROM g) "
      "SELECT n, number, " HWNAS_DASH_MICROS("finished_at") ", v, false FROM h WHERE ok AND "
      "(prev IS NULL OR v",
      beats,
      "prev) UNION ALL (SELECT n, number, " HWNAS_DASH_MICROS(
          "finished_at") ", NULL, true FROM f ORDER BY n DESC LIMIT 1) ORDER BY 1, 5");
  return pool_->Run<BestSoFarSeries>(
      "best so far", [&](pqxx::connection& c) -> absl::StatusOr<BestSoFarSeries> {
        pqxx::nontransaction txn(c);
        pqxx::result r = txn.exec_params(sql, search_id, std::string(metric));
        BestSoFarSeries out;
        for (const pqxx::row& row : r) {
          const absl::Time at =
              row[2].is_null() ? absl::UnixEpoch() : absl::FromUnixMicros(row[2].as<int64_t>());
          if (row[4].as<bool>()) {
            out.finished = row[0].as<int64_t>();
            out.last_finished_at = at;
            continue;
          }
          out.steps.push_back({.index = row[0].as<int64_t>(),
                               .number = row[1].as<int64_t>(),
                               .finished_at = at,
                               .value = row[3].as<double>()});
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
