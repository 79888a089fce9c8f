#include "db/store.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <pqxx/pqxx>
#include <random>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "db/migrations.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace hwnas::db {
namespace {

// Timestamps cross the boundary as integer microseconds since the epoch.
#define HWNAS_MICROS(col) "(EXTRACT(EPOCH FROM " col ") * 1000000)::bigint"

// Column list matching ParseTrial(); `t` is the trials alias.
constexpr char kTrialColumns[] =
    "t.id, t.search_id, t.number, t.space, t.space_version, array_to_string(t.tokens, ','), "
    "t.readable, t.canonical_hash, t.state, t.attempts, COALESCE(t.worker_id, ''), "
    "COALESCE(t.lease_id, ''), " HWNAS_MICROS("t.lease_expires_at") ", "
    "t.accuracy, t.loss, t.latency_median_ms, t.latency_p90_ms, t.latency_runs, "
    "t.latency_threads, t.latency_device, t.params, t.macs, t.peak_activation_bytes, "
    "t.flash_bytes, t.estimates::text, t.train_seconds, t.epochs, t.error, t.reward, "
    "t.failure_reason, " HWNAS_MICROS("t.created_at") ", " HWNAS_MICROS(
        "t.started_at") ", " HWNAS_MICROS("t.finished_at") ", t.finish_seq, t.proposal_id";

constexpr char kSearchColumns[] =
    "s.id, s.name, s.owner_id, u.name, s.state, s.spec_yaml, s.space, s.budget, s.weight, "
    "s.error, " HWNAS_MICROS("s.created_at") ", " HWNAS_MICROS("s.finished_at") ", s.seed, "
    "COALESCE(s.warm_start_search_id, 0)";

constexpr char kWorkerColumns[] =
    "w.id, w.name, w.device_kind, w.device_tag, w.threads, w.gpu, "
    "array_to_string(w.datasets, E'\\x1f'), array_to_string(w.search_spaces, E'\\x1f'), "
    "array_to_string(w.evaluators, E'\\x1f'), w.version, w.hostname, " HWNAS_MICROS(
        "w.registered_at") ", " HWNAS_MICROS("w.last_heartbeat") ", COALESCE(w.owner_id, 0)";

// Separator for text arrays passed as one parameter; names never contain it.
constexpr char kArraySeparator = '\x1f';

std::string TokensLiteral(const std::vector<int>& tokens) {
  return absl::StrCat("{", absl::StrJoin(tokens, ","), "}");
}

// Optional values travel as text, "" meaning NULL (the SQL side applies
// NULLIF), because libpqxx 6 has no null-aware optional parameters.
std::string Opt(const std::optional<double>& v) { return v ? absl::StrCat(*v) : std::string(); }

absl::Time MicrosToTime(const pqxx::field& f) { return absl::FromUnixMicros(f.as<int64_t>()); }

std::optional<absl::Time> OptTime(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return MicrosToTime(f);
}

std::vector<std::string> SplitArray(const pqxx::field& f) {
  std::string text = f.is_null() ? "" : f.as<std::string>();
  if (text.empty()) return {};
  return absl::StrSplit(text, kArraySeparator);
}

absl::Status CheckName(absl::string_view field, absl::string_view value) {
  if (value.size() > static_cast<size_t>(kMaxNameLength)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is longer than ", kMaxNameLength, " characters"));
  }
  for (char c : value) {
    if (static_cast<unsigned char>(c) < 0x20) {
      return absl::InvalidArgumentError(absl::StrCat(field, " contains a control character"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateArchitecture(const Architecture& a) {
  if (a.space.empty()) return absl::InvalidArgumentError("architecture.space is empty");
  HWNAS_RETURN_IF_ERROR(CheckName("architecture.space", a.space));
  if (a.tokens.empty()) return absl::InvalidArgumentError("architecture.tokens is empty");
  if (a.tokens.size() > static_cast<size_t>(kMaxTokens)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "architecture has ", a.tokens.size(), " tokens; at most ", kMaxTokens, " are accepted"));
  }
  if (a.readable.size() > 16384) {
    return absl::InvalidArgumentError("architecture.readable is longer than 16384 characters");
  }
  return absl::OkStatus();
}

absl::Status ValidateReward(const std::optional<double>& reward) {
  if (reward && (!std::isfinite(*reward) || std::fabs(*reward) > 1e15)) {
    return absl::InvalidArgumentError(
        absl::StrCat("reward = ", *reward, " is not a finite number"));
  }
  return absl::OkStatus();
}

absl::Status ValidateEpochMetrics(const EpochMetrics& m) {
  if (m.epoch < 0 || m.epoch > 1000000) {
    return absl::InvalidArgumentError(absl::StrCat("epoch = ", m.epoch, " is out of range"));
  }
  if (m.values.size() > static_cast<size_t>(kMaxMetricsPerEpoch)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "an epoch may carry at most ", kMaxMetricsPerEpoch, " metrics, got ", m.values.size()));
  }
  for (const auto& [name, value] : m.values) {
    if (name.empty() || name.size() > 64) {
      return absl::InvalidArgumentError("metric names must be 1 to 64 characters");
    }
    if (!std::isfinite(value) || std::fabs(value) > 1e15) {
      return absl::InvalidArgumentError(
          absl::StrCat("metric '", name, "' = ", value, " is not a finite number within 1e15"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int> ParsePageToken(const std::string& token) {
  if (token.empty()) return 0;
  int offset = 0;
  if (!absl::SimpleAtoi(token, &offset) || offset < 0) {
    return absl::InvalidArgumentError(absl::StrCat("page_token '", token, "' is invalid"));
  }
  return offset;
}

std::string Sha256(absl::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<char*>(digest), len);
}

std::string RandomToken() {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;  // getrandom(2) on Linux.
  std::uniform_int_distribution<int> pick(0, 61);
  std::string token = "hwn_";
  for (int i = 0; i < 40; ++i) token.push_back(kAlphabet[pick(rd)]);
  return token;
}

absl::StatusOr<TrialRecord> ParseTrial(const pqxx::row& r) {
  TrialRecord t;
  t.id = r[0].as<int64_t>();
  t.search_id = r[1].as<int64_t>();
  t.number = r[2].as<int64_t>();
  t.architecture.space = r[3].as<std::string>();
  t.architecture.space_version = r[4].as<int>();
  for (absl::string_view tok : absl::StrSplit(r[5].as<std::string>(), ',', absl::SkipEmpty())) {
    int v = 0;
    if (!absl::SimpleAtoi(tok, &v)) return absl::DataLossError("stored token list is corrupt");
    t.architecture.tokens.push_back(v);
  }
  t.architecture.readable = r[6].as<std::string>();
  t.canonical_hash = static_cast<uint64_t>(r[7].as<int64_t>());
  HWNAS_ASSIGN_OR_RETURN(t.state, ParseTrialState(r[8].as<std::string>()));
  t.attempts = r[9].as<int>();
  t.worker_id = r[10].as<std::string>();
  t.lease_id = r[11].as<std::string>();
  t.lease_expires_at = OptTime(r[12]);
  if (!r[13].is_null() || !r[20].is_null()) {
    TrialResult res;
    res.accuracy = r[13].is_null() ? 0 : r[13].as<double>();
    res.loss = r[14].is_null() ? 0 : r[14].as<double>();
    if (!r[15].is_null()) {
      LatencyMeasurement lat;
      lat.median_ms = r[15].as<double>();
      lat.p90_ms = r[16].is_null() ? 0 : r[16].as<double>();
      lat.runs = r[17].is_null() ? 0 : r[17].as<int>();
      lat.threads = r[18].is_null() ? 0 : r[18].as<int>();
      lat.device = r[19].is_null() ? "" : r[19].as<std::string>();
      res.latency = lat;
    }
    res.costs.params = r[20].is_null() ? 0 : r[20].as<int64_t>();
    res.costs.macs = r[21].is_null() ? 0 : r[21].as<int64_t>();
    res.costs.peak_activation_bytes = r[22].is_null() ? 0 : r[22].as<int64_t>();
    res.costs.flash_bytes = r[23].is_null() ? 0 : r[23].as<int64_t>();
    nlohmann::json estimates = nlohmann::json::parse(r[24].as<std::string>(), nullptr, false);
    if (estimates.is_object()) {
      for (const auto& [k, v] : estimates.items()) {
        if (v.is_number()) res.estimates[k] = v.get<double>();
      }
    }
    res.train_seconds = r[25].is_null() ? 0 : r[25].as<double>();
    res.epochs = r[26].is_null() ? 0 : r[26].as<int>();
    res.error = r[27].is_null() ? "" : r[27].as<std::string>();
    t.result = std::move(res);
  }
  if (!r[28].is_null()) t.reward = r[28].as<double>();
  t.failure_reason = r[29].as<std::string>();
  t.created_at = MicrosToTime(r[30]);
  t.started_at = OptTime(r[31]);
  t.finished_at = OptTime(r[32]);
  t.finish_seq = r[33].is_null() ? 0 : r[33].as<int64_t>();
  t.proposal_id = static_cast<uint64_t>(r[34].as<int64_t>());
  return t;
}

absl::StatusOr<SearchRecord> ParseSearch(const pqxx::row& r) {
  SearchRecord s;
  s.id = r[0].as<int64_t>();
  s.name = r[1].as<std::string>();
  s.owner_id = r[2].as<int64_t>();
  s.owner = r[3].as<std::string>();
  HWNAS_ASSIGN_OR_RETURN(s.state, ParseSearchState(r[4].as<std::string>()));
  s.spec_yaml = r[5].as<std::string>();
  s.space = r[6].as<std::string>();
  s.budget = r[7].as<int64_t>();
  s.weight = r[8].as<double>();
  s.error = r[9].as<std::string>();
  s.created_at = MicrosToTime(r[10]);
  s.finished_at = OptTime(r[11]);
  s.seed = static_cast<uint64_t>(r[12].as<int64_t>());
  s.warm_start_search_id = r[13].as<int64_t>();
  return s;
}

WorkerRecord ParseWorker(const pqxx::row& r) {
  WorkerRecord w;
  w.id = r[0].as<std::string>();
  w.name = r[1].as<std::string>();
  w.device_kind = r[2].as<std::string>();
  w.device_tag = r[3].as<std::string>();
  w.threads = r[4].as<int>();
  w.gpu = r[5].as<bool>();
  w.datasets = SplitArray(r[6]);
  w.search_spaces = SplitArray(r[7]);
  w.evaluators = SplitArray(r[8]);
  w.version = r[9].as<std::string>();
  w.hostname = r[10].as<std::string>();
  w.registered_at = MicrosToTime(r[11]);
  w.last_heartbeat = MicrosToTime(r[12]);
  w.owner_id = r[13].as<int64_t>();
  return w;
}

User ParseUser(const pqxx::row& r) {
  User u;
  u.id = r[0].as<int64_t>();
  u.name = r[1].as<std::string>();
  u.is_admin = r[2].as<bool>();
  u.is_worker = r[3].as<bool>();
  return u;
}

// The result columns, set from parameters $2..$18 ($1 is the trial id).
constexpr char kResultAssignments[] =
    "accuracy = $2, loss = $3, latency_median_ms = NULLIF($4, '')::float8, "
    "latency_p90_ms = NULLIF($5, '')::float8, latency_runs = NULLIF($6, '')::int, "
    "latency_threads = NULLIF($7, '')::int, latency_device = NULLIF($8, ''), params = $9, "
    "macs = $10, peak_activation_bytes = $11, flash_bytes = $12, estimates = $13::jsonb, "
    "train_seconds = $14, epochs = $15, error = NULLIF($16, ''), "
    "reward = NULLIF($17, '')::float8, "
    // An earlier attempt's failure stays on record unless a new reason is given.
    "failure_reason = CASE WHEN $18 = '' THEN failure_reason ELSE $18 END";

// How a result ends its trial: the final state and finish sequence.
struct FinishAs {
  TrialState state;
  int64_t finish_seq;
};

// Writes a result's columns; with `finish`, also ends the trial in that state
// with that finish sequence, in the same statement. Returns the trial row.
pqxx::row StoreResult(pqxx::work& txn, int64_t trial_id, const TrialResult& r,
                      const std::optional<double>& reward, absl::string_view failure_reason,
                      const std::optional<FinishAs>& finish = std::nullopt) {
  nlohmann::json estimates = nlohmann::json::object();
  for (const auto& [k, v] : r.estimates) estimates[k] = v;
  const bool has_latency = r.latency.has_value();
  // One statement either way: the finishing columns change only when
  // $19 (the final state) is set.
  static const std::string sql = absl::StrCat(
      "UPDATE trials t SET ", kResultAssignments,
      ", state = CASE WHEN $19::text = '' THEN state ELSE $19::text END, "
      "finished_at = CASE WHEN $19::text = '' THEN finished_at ELSE now() END, "
      "lease_expires_at = CASE WHEN $19::text = '' THEN lease_expires_at ELSE NULL END, "
      "finish_seq = CASE WHEN $20::bigint = 0 THEN finish_seq ELSE $20::bigint END "
      "WHERE id = $1 RETURNING ",
      kTrialColumns);
  return txn.exec_params1(
      sql, trial_id, r.accuracy, r.loss, has_latency ? absl::StrCat(r.latency->median_ms) : "",
      has_latency ? absl::StrCat(r.latency->p90_ms) : "",
      has_latency ? absl::StrCat(r.latency->runs) : "",
      has_latency ? absl::StrCat(r.latency->threads) : "", has_latency ? r.latency->device : "",
      r.costs.params, r.costs.macs, r.costs.peak_activation_bytes, r.costs.flash_bytes,
      estimates.dump(), r.train_seconds, r.epochs, r.error, Opt(reward),
      std::string(failure_reason), finish ? std::string(TrialStateName(finish->state)) : "",
      finish ? finish->finish_seq : int64_t{0});
}

// Hot-path statements, prepared once per connection (parsed and planned
// once instead of on every call).
constexpr char kLeaseTrialStmt[] = "hwnas_lease_trial";
constexpr char kCompleteBatchStmt[] = "hwnas_complete_batch";
constexpr char kTakeFinishSeqsStmt[] = "hwnas_take_finish_seqs";
constexpr char kLeaseBatchStmt[] = "hwnas_lease_batch";
constexpr char kInsertTrialsStmt[] = "hwnas_insert_trials";

void PrepareStatements(pqxx::connection& c) {
  // SKIP LOCKED: a trial another worker is leasing right now is skipped
  // instead of waited for, so no two leases share a trial.
  c.prepare(
      kLeaseTrialStmt,
      absl::StrCat("UPDATE trials t SET state = 'LEASED', lease_id = gen_random_uuid()::text, "
                   "worker_id = $2, lease_expires_at = now() + make_interval(secs => $3), "
                   "attempts = attempts + 1, started_at = COALESCE(started_at, now()) "
                   "WHERE t.id = (SELECT id FROM trials WHERE search_id = $1 AND state = 'PENDING' "
                   "ORDER BY number LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING ",
                   kTrialColumns));
  // Up to n = cardinality($2) pending trials of search $1, lowest numbers
  // first, leased to the workers of $2 in order (SKIP LOCKED as above).
  c.prepare(
      kLeaseBatchStmt,
      absl::StrCat(
          "WITH w AS (SELECT wid, ord FROM unnest($2::text[]) WITH ORDINALITY AS w(wid, ord)), "
          "p AS (SELECT id, row_number() OVER (ORDER BY number) AS ord FROM (SELECT id, "
          "number FROM trials WHERE search_id = $1 AND state = 'PENDING' ORDER BY number "
          "LIMIT cardinality($2::text[]) FOR UPDATE SKIP LOCKED) q) "
          "UPDATE trials t SET state = 'LEASED', lease_id = gen_random_uuid()::text, "
          "worker_id = w.wid, lease_expires_at = now() + make_interval(secs => $3), "
          "attempts = t.attempts + 1, started_at = COALESCE(t.started_at, now()) "
          "FROM p JOIN w ON w.ord = p.ord WHERE t.id = p.id RETURNING ",
          kTrialColumns, ", w.ord"));
  // New trials of search $1 from a JSON array of rows, in one statement.
  c.prepare(
      kInsertTrialsStmt,
      absl::StrCat("INSERT INTO trials AS t (search_id, number, space, space_version, tokens, "
                   "readable, canonical_hash, state, finish_seq, finished_at, proposal_id) "
                   "SELECT $1, x.number, x.space, x.space_version, x.tokens::int[], x.readable, "
                   "x.canonical_hash, x.state, x.finish_seq, CASE WHEN x.done THEN now() END, "
                   "x.proposal_id FROM jsonb_to_recordset($2::jsonb) AS x(number bigint, space "
                   "text, space_version int, tokens text, readable text, canonical_hash bigint, "
                   "state text, finish_seq bigint, done boolean, proposal_id bigint) "
                   "ORDER BY x.number RETURNING ",
                   kTrialColumns));
  // Many completions in one statement (one round trip, its own
  // transaction). $1: a JSON array of {i, lease_id, worker_id, state,
  // result columns}. `l` locks the trials whose lease is current and held by
  // the reporting worker (the caller answers the others one by one), one
  // lease id index lookup per report, in lease id order (so two batches lock
  // in the same order): as a plain join the planner scanned the partial
  // index of leased trials instead, a bitmap scan that visits every dead
  // entry left since the last vacuum (15,933 entries and 1,076 heap pages for
  // one live row after 16k trials: 12.9 ms, against 0.1 ms this way); `c`
  // takes each search's finish sequences once for the whole batch; the
  // UPDATE writes results, final states and sequences (in batch order within
  // a search), each row once.
  c.prepare(
      kCompleteBatchStmt,
      absl::StrCat(
          "WITH x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(i int, lease_id text, "
          "worker_id text, state text, accuracy float8, loss float8, latency_median_ms float8, "
          "latency_p90_ms float8, latency_runs int, latency_threads int, latency_device text, "
          "params bigint, macs bigint, peak_activation_bytes bigint, flash_bytes bigint, "
          "estimates jsonb, train_seconds float8, epochs int, error text, reward float8)), "
          "l AS (SELECT t.id, t.search_id, x.i FROM (SELECT i, lease_id, worker_id FROM x "
          "ORDER BY lease_id) x CROSS JOIN LATERAL (SELECT id, search_id FROM trials t "
          "WHERE t.lease_id = x.lease_id AND t.worker_id = x.worker_id "
          "AND t.state IN ('LEASED', 'RUNNING') LIMIT 1 FOR UPDATE) t), "
          // The same lease twice in one batch: the first report stands.
          "d AS (SELECT DISTINCT ON (id) id, search_id, i FROM l ORDER BY id, i), "
          "n AS (SELECT search_id, count(*) AS k FROM d GROUP BY search_id), "
          "c AS (UPDATE search_finish_counters f SET next_finish_seq = f.next_finish_seq + n.k "
          "FROM n WHERE f.search_id = n.search_id RETURNING f.search_id, "
          "f.next_finish_seq - n.k AS first), "
          "s AS (SELECT d.id, d.i, c.first + row_number() OVER (PARTITION BY d.search_id "
          "ORDER BY d.i) - 1 AS seq FROM d JOIN c ON c.search_id = d.search_id) "
          "UPDATE trials t SET accuracy = x.accuracy, loss = x.loss, "
          "latency_median_ms = x.latency_median_ms, latency_p90_ms = x.latency_p90_ms, "
          "latency_runs = x.latency_runs, latency_threads = x.latency_threads, "
          "latency_device = NULLIF(x.latency_device, ''), params = x.params, "
          "macs = x.macs, peak_activation_bytes = x.peak_activation_bytes, "
          "flash_bytes = x.flash_bytes, estimates = x.estimates, "
          "train_seconds = x.train_seconds, epochs = x.epochs, "
          "error = NULLIF(x.error, ''), reward = x.reward, state = x.state, "
          "finish_seq = s.seq, finished_at = now(), lease_expires_at = NULL "
          "FROM s JOIN x ON x.i = s.i WHERE t.id = s.id RETURNING ",
          kTrialColumns, ", s.i"));
  c.prepare(kTakeFinishSeqsStmt,
            "UPDATE search_finish_counters SET next_finish_seq = next_finish_seq + $2 "
            "WHERE search_id = $1 RETURNING next_finish_seq - $2");
}

// Saves a checkpoint and prunes all but the last three of the search.
void InsertCheckpoint(pqxx::work& txn, int64_t search_id, const Checkpoint& c) {
  txn.exec_params0(
      "INSERT INTO controller_checkpoints (search_id, sequence, state, observed_through) "
      "VALUES ($1, $2, $3, $4) ON CONFLICT (search_id, sequence) DO UPDATE SET "
      "state = EXCLUDED.state, observed_through = EXCLUDED.observed_through, "
      "created_at = now()",
      search_id, c.sequence, pqxx::binarystring(c.state.data(), c.state.size()),
      c.observed_through);
  // Keep the last few: enough to fall back on, without growing forever.
  txn.exec_params0("DELETE FROM controller_checkpoints WHERE search_id = $1 AND sequence < $2",
                   search_id, c.sequence - 2);
}

// Takes the next `n` finish sequence numbers of a search and returns the
// first. The counter row stays locked until commit, so callers take it as
// their last statement but one: completions of a search queue on it only
// for the moment of their commit.
int64_t TakeFinishSeqs(pqxx::work& txn, int64_t search_id, int64_t n = 1) {
  return txn.exec_prepared1(kTakeFinishSeqsStmt, search_id, n)[0].as<int64_t>();
}

// Gives a finished trial its finish sequence: the last writes of a
// completion, so the counter lock is held only until the commit right after.
int64_t AssignFinishSeq(pqxx::work& txn, int64_t trial_id, int64_t search_id) {
  const int64_t seq = TakeFinishSeqs(txn, search_id);
  txn.exec_params0("UPDATE trials SET finish_seq = $2 WHERE id = $1", trial_id, seq);
  return seq;
}

void SetFinishSeq(pqxx::work& txn, TrialRecord* trial) {
  trial->finish_seq = AssignFinishSeq(txn, trial->id, trial->search_id);
}

}  // namespace

// ---------------------------------------------------------------------------
// Connection pool and transaction runner.

class Store::Impl {
 public:
  explicit Impl(StoreOptions options) : options_(std::move(options)) {}

  // Runs `body(txn)` in a transaction. Commits when it returns OK; rolls back
  // otherwise, so a validation error changes nothing. Retries serialization
  // failures and deadlocks; maps libpqxx exceptions to Status.
  // `Txn` pqxx::nontransaction runs each statement in its own implicit
  // transaction (no BEGIN/COMMIT round trips): for single-statement bodies.
  template <typename T, typename Txn = pqxx::work, typename Body>
  absl::StatusOr<T> Transact(absl::string_view what, Body&& body) {
    for (int attempt = 1;; ++attempt) {
      absl::StatusOr<std::unique_ptr<pqxx::connection>> conn = Acquire();
      if (!conn.ok()) return conn.status();
      bool reusable = true;
      try {
        Txn txn(**conn);
        absl::StatusOr<T> result = body(txn);
        if (result.ok()) txn.commit();
        Release(*std::move(conn));
        return result;
      } catch (const pqxx::transaction_rollback& e) {
        // Serialization failure or deadlock: safe to run the body again.
        Release(*std::move(conn));
        if (attempt >= options_.max_attempts) {
          LogDetail(what, e);
          return absl::AbortedError(
              absl::StrCat(what, ": gave up after ", attempt, " conflicting attempts (retry)"));
        }
        absl::SleepFor(absl::Milliseconds(2 * attempt) + absl::Microseconds(RandomJitter()));
        continue;
      } catch (const pqxx::broken_connection& e) {
        reusable = false;
        Drop();
        LogDetail(what, e);
        return absl::UnavailableError(absl::StrCat(what, ": lost the database connection (retry)"));
      } catch (const pqxx::in_doubt_error& e) {
        reusable = false;
        Drop();
        LogDetail(what, e);
        return absl::UnavailableError(
            absl::StrCat(what,
                         ": connection lost during commit (the change may or may not be "
                         "stored)"));
      } catch (const pqxx::unique_violation& e) {
        Release(*std::move(conn));
        LogDetail(what, e);
        return absl::AlreadyExistsError(absl::StrCat(what, ": it already exists"));
      } catch (const pqxx::foreign_key_violation& e) {
        Release(*std::move(conn));
        LogDetail(what, e);
        return absl::NotFoundError(
            absl::StrCat(what, ": it refers to something that does not exist"));
      } catch (const pqxx::not_null_violation& e) {
        Release(*std::move(conn));
        LogDetail(what, e);
        return absl::InvalidArgumentError(absl::StrCat(what, ": a required value is missing"));
      } catch (const pqxx::integrity_constraint_violation& e) {
        Release(*std::move(conn));
        LogDetail(what, e);
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": a value is outside what the database accepts"));
      } catch (const pqxx::data_exception& e) {
        Release(*std::move(conn));
        LogDetail(what, e);
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": a value is out of range or malformed"));
      } catch (const std::exception& e) {
        // A session that failed in an unknown way is not reused.
        (void)reusable;
        Drop();
        LogDetail(what, e);
        return absl::InternalError(
            absl::StrCat(what, ": the database failed (the server log has the details)"));
      }
    }
  }

  const StoreOptions& options() const { return options_; }

 private:
  static std::string FirstLine(absl::string_view s) {
    return std::string(s.substr(0, s.find('\n')));
  }

  // The edge of the module: PostgreSQL's text (SQL, column and constraint
  // names) goes to the operator's log, never into a Status a client sees.
  static void LogDetail(absl::string_view what, const std::exception& e) {
    spdlog::warn("event=store_error op=\"{}\" error=\"{}\"", std::string(what),
                 absl::CEscape(RedactSecrets(FirstLine(e.what()))));
  }

  int RandomJitter() {
    absl::MutexLock lock(&mu_);
    return std::uniform_int_distribution<int>(0, 2000)(rng_);
  }

  absl::StatusOr<std::unique_ptr<pqxx::connection>> Acquire() {
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](Impl* self) {
            return !self->idle_.empty() || self->open_ < self->options_.pool_size;
          },
          this));
      if (!idle_.empty()) {
        std::unique_ptr<pqxx::connection> c = std::move(idle_.back());
        idle_.pop_back();
        if (c->is_open()) return c;
        --open_;
      }
      ++open_;
    }
    try {
      auto c = std::make_unique<pqxx::connection>(options_.connection_string);
      PrepareStatements(*c);
      return c;
    } catch (const std::exception& e) {
      absl::MutexLock lock(&mu_);
      --open_;
      return absl::UnavailableError(
          absl::StrCat("cannot connect to PostgreSQL: ", RedactSecrets(FirstLine(e.what()))));
    }
  }

  void Release(std::unique_ptr<pqxx::connection> c) {
    absl::MutexLock lock(&mu_);
    idle_.push_back(std::move(c));
  }

  // The connection broke: forget it (and every idle one, which likely broke
  // with it when the server went away).
  void Drop() {
    absl::MutexLock lock(&mu_);
    open_ -= 1 + static_cast<int>(idle_.size());
    idle_.clear();
  }

  const StoreOptions options_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_ ABSL_GUARDED_BY(mu_);
  int open_ ABSL_GUARDED_BY(mu_) = 0;
  std::mt19937 rng_ ABSL_GUARDED_BY(mu_){std::random_device{}()};
};

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

absl::StatusOr<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  if (options.pool_size < 1) return absl::InvalidArgumentError("pool_size must be at least 1");
  if (options.max_attempts < 1) return absl::InvalidArgumentError("max_attempts must be >= 1");
  auto store = std::unique_ptr<Store>(new Store(std::make_unique<Impl>(options)));
  if (!options.connect_at_open) return store;
  HWNAS_RETURN_IF_ERROR(store->impl_
                            ->Transact<int>("connect",
                                            [](pqxx::work& txn) -> absl::StatusOr<int> {
                                              return txn.exec1("SELECT 1")[0].as<int>();
                                            })
                            .status());
  return store;
}

// ---------------------------------------------------------------------------
// Schema.

int Store::LatestSchemaVersion() { return Migrations().empty() ? 0 : Migrations().back().version; }

absl::StatusOr<int> Store::SchemaVersion() {
  return impl_->Transact<int>("schema version", [](pqxx::work& txn) -> absl::StatusOr<int> {
    pqxx::row exists = txn.exec1("SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (!exists[0].as<bool>()) return 0;
    return txn.exec1("SELECT COALESCE(max(version), 0) FROM schema_migrations")[0].as<int>();
  });
}

absl::Status Store::Migrate() {
  return impl_
      ->Transact<int>(
          "migrate",
          [](pqxx::work& txn) -> absl::StatusOr<int> {
            // One migrator at a time across every server sharing the database.
            txn.exec("SELECT pg_advisory_xact_lock(7468001)");
            txn.exec0(
                "CREATE TABLE IF NOT EXISTS schema_migrations (version INT PRIMARY KEY, "
                "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())");
            const int current =
                txn.exec1("SELECT COALESCE(max(version), 0) FROM schema_migrations")[0].as<int>();
            if (current > LatestSchemaVersion()) {
              return absl::FailedPreconditionError(
                  absl::StrCat("the database schema is at version ", current,
                               " but this binary knows only up to ", LatestSchemaVersion(),
                               ": upgrade hwnas before using this database"));
            }
            int applied = 0;
            for (const Migration& m : Migrations()) {
              if (m.version <= current) continue;
              txn.exec0(m.sql);
              txn.exec_params0("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                               m.version, m.name);
              spdlog::info("event=migration_applied version={} name={}", m.version, m.name);
              ++applied;
            }
            return applied;
          })
      .status();
}

// ---------------------------------------------------------------------------
// Users and tokens.

absl::StatusOr<User> Store::CreateUser(absl::string_view name, bool is_admin, bool is_worker) {
  if (name.empty() || name.size() > 64) {
    return absl::InvalidArgumentError("user name must be 1 to 64 characters");
  }
  for (char c : name) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '@' ||
          c == '-')) {
      return absl::InvalidArgumentError(
          absl::StrCat("user name '", name, "' may only contain letters, digits and _ . @ -"));
    }
  }
  return impl_->Transact<User>("create user", [&](pqxx::work& txn) -> absl::StatusOr<User> {
    pqxx::result r = txn.exec_params(
        "INSERT INTO users (name, is_admin, is_worker) VALUES ($1, $2, $3) "
        "ON CONFLICT (name) DO NOTHING RETURNING id, name, is_admin, is_worker",
        std::string(name), is_admin, is_worker);
    if (r.empty()) return absl::AlreadyExistsError(absl::StrCat("user '", name, "' exists"));
    return ParseUser(r[0]);
  });
}

absl::StatusOr<User> Store::GetUser(absl::string_view name) {
  return impl_->Transact<User>("get user", [&](pqxx::work& txn) -> absl::StatusOr<User> {
    pqxx::result r = txn.exec_params(
        "SELECT id, name, is_admin, is_worker FROM users WHERE name = $1", std::string(name));
    if (r.empty()) return absl::NotFoundError(absl::StrCat("no user '", name, "'"));
    return ParseUser(r[0]);
  });
}

absl::StatusOr<std::string> Store::IssueToken(int64_t user_id) {
  const std::string token = RandomToken();
  const std::string digest = Sha256(token);
  return impl_->Transact<std::string>(
      "issue token", [&](pqxx::work& txn) -> absl::StatusOr<std::string> {
        if (txn.exec_params("SELECT 1 FROM users WHERE id = $1", user_id).empty()) {
          return absl::NotFoundError(absl::StrCat("no user with id ", user_id));
        }
        txn.exec_params0(
            "INSERT INTO api_tokens (user_id, token_sha256, prefix) VALUES ($1, $2, $3)", user_id,
            pqxx::binarystring(digest.data(), digest.size()), token.substr(0, 8));
        return token;
      });
}

absl::StatusOr<User> Store::Authenticate(absl::string_view token) {
  if (token.empty() || token.size() > 256) {
    return absl::UnauthenticatedError("missing or malformed API token");
  }
  const std::string digest = Sha256(token);
  return impl_->Transact<User>("authenticate", [&](pqxx::work& txn) -> absl::StatusOr<User> {
    pqxx::result r = txn.exec_params(
        "SELECT u.id, u.name, u.is_admin, u.is_worker FROM api_tokens t "
        "JOIN users u ON u.id = t.user_id WHERE t.token_sha256 = $1 AND t.revoked_at IS NULL",
        pqxx::binarystring(digest.data(), digest.size()));
    if (r.empty()) return absl::UnauthenticatedError("invalid or revoked API token");
    return ParseUser(r[0]);
  });
}

absl::StatusOr<int> Store::RevokeTokens(int64_t user_id) {
  return impl_->Transact<int>("revoke tokens", [&](pqxx::work& txn) -> absl::StatusOr<int> {
    pqxx::result r = txn.exec_params(
        "UPDATE api_tokens SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
        user_id);
    // Delivered to listening servers when (and only if) this commits.
    txn.exec0(absl::StrCat("NOTIFY ", kTokensRevokedChannel));
    return static_cast<int>(r.affected_rows());
  });
}

// ---------------------------------------------------------------------------
// Searches.

namespace {

absl::StatusOr<TrialCounts> QueryCounts(pqxx::work& txn, int64_t search_id) {
  TrialCounts c;
  pqxx::result r = txn.exec_params(
      "SELECT state, count(*) FROM trials WHERE search_id = $1 GROUP BY state", search_id);
  for (const pqxx::row& row : r) {
    HWNAS_ASSIGN_OR_RETURN(TrialState state, ParseTrialState(row[0].as<std::string>()));
    const int64_t n = row[1].as<int64_t>();
    c.total += n;
    if (int64_t* counter = c.CounterFor(state)) *counter += n;
  }
  return c;
}

// Fills a search's trial counts and best trial.
absl::Status AddSearchSummary(pqxx::work& txn, SearchRecord& s) {
  const int64_t search_id = s.id;
  HWNAS_ASSIGN_OR_RETURN(s.counts, QueryCounts(txn, search_id));
  pqxx::result best = txn.exec_params(
      absl::StrCat("SELECT ", kTrialColumns,
                   " FROM trials t WHERE t.search_id = $1 AND t.reward IS NOT NULL AND t.state "
                   "IN ('SUCCEEDED', 'EARLY_STOPPED') ORDER BY t.reward DESC, t.number LIMIT 1"),
      search_id);
  if (!best.empty()) {
    HWNAS_ASSIGN_OR_RETURN(s.best_trial, ParseTrial(best[0]));
  }
  return absl::OkStatus();
}

absl::StatusOr<SearchRecord> QuerySearch(pqxx::work& txn, int64_t search_id) {
  pqxx::result r = txn.exec_params(absl::StrCat("SELECT ", kSearchColumns,
                                                " FROM searches s JOIN users u ON u.id = "
                                                "s.owner_id WHERE s.id = $1"),
                                   search_id);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("search ", search_id, " does not exist"));
  HWNAS_ASSIGN_OR_RETURN(SearchRecord s, ParseSearch(r[0]));
  HWNAS_RETURN_IF_ERROR(AddSearchSummary(txn, s));
  return s;
}

// Locks a search row and checks it exists.
absl::StatusOr<SearchState> LockSearch(pqxx::work& txn, int64_t search_id) {
  pqxx::result r =
      txn.exec_params("SELECT state FROM searches WHERE id = $1 FOR NO KEY UPDATE", search_id);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("search ", search_id, " does not exist"));
  return ParseSearchState(r[0][0].as<std::string>());
}

}  // namespace

absl::StatusOr<SearchRecord> Store::CreateSearch(const NewSearch& s) {
  if (s.name.empty()) return absl::InvalidArgumentError("search name is empty");
  HWNAS_RETURN_IF_ERROR(CheckName("search name", s.name));
  HWNAS_RETURN_IF_ERROR(CheckName("search space", s.space));
  HWNAS_RETURN_IF_ERROR(CheckName("idempotency key", s.idempotency_key));
  if (s.budget <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("budget must be a positive number of trials, got ", s.budget));
  }
  if (!(s.weight > 0) || !std::isfinite(s.weight)) {
    return absl::InvalidArgumentError(absl::StrCat("weight must be positive, got ", s.weight));
  }
  if (s.spec_yaml.size() > static_cast<size_t>(kMaxSpecBytes)) {
    return absl::InvalidArgumentError("spec is larger than 1 MiB");
  }
  return impl_->Transact<SearchRecord>(
      "create search", [&](pqxx::work& txn) -> absl::StatusOr<SearchRecord> {
        if (!s.idempotency_key.empty()) {
          pqxx::result existing = txn.exec_params(
              "SELECT id FROM searches WHERE owner_id = $1 AND idempotency_key = $2", s.owner_id,
              s.idempotency_key);
          if (!existing.empty()) return QuerySearch(txn, existing[0][0].as<int64_t>());
        }
        if (txn.exec_params("SELECT 1 FROM users WHERE id = $1", s.owner_id).empty()) {
          return absl::NotFoundError(absl::StrCat("owner ", s.owner_id, " does not exist"));
        }
        const int64_t id =
            txn.exec_params1(
                   "INSERT INTO searches (name, owner_id, spec_yaml, space, budget, weight, "
                   "idempotency_key, seed, warm_start_search_id) VALUES ($1, $2, $3, $4, $5, "
                   "$6, NULLIF($7, ''), $8, NULLIF($9, 0)) RETURNING id",
                   s.name, s.owner_id, s.spec_yaml, s.space, s.budget, s.weight, s.idempotency_key,
                   static_cast<int64_t>(s.seed), s.warm_start_search_id)[0]
                .as<int64_t>();
        txn.exec_params0("INSERT INTO search_finish_counters (search_id) VALUES ($1)", id);
        txn.exec_params0(
            "INSERT INTO events (search_id, kind, payload) VALUES ($1, 'search_created', "
            "jsonb_build_object('budget', $2::bigint))",
            id, s.budget);
        return QuerySearch(txn, id);
      });
}

absl::StatusOr<SearchRecord> Store::GetSearch(int64_t search_id) {
  return impl_->Transact<SearchRecord>(
      "get search", [&](pqxx::work& txn) { return QuerySearch(txn, search_id); });
}

absl::StatusOr<Page<SearchRecord>> Store::ListSearches(const SearchQuery& q) {
  HWNAS_ASSIGN_OR_RETURN(int offset, ParsePageToken(q.page_token));
  const int limit = std::clamp(q.page_size <= 0 ? 50 : q.page_size, 1, 1000);
  return impl_->Transact<Page<SearchRecord>>(
      "list searches", [&](pqxx::work& txn) -> absl::StatusOr<Page<SearchRecord>> {
        pqxx::result r = txn.exec_params(
            absl::StrCat("SELECT ", kSearchColumns,
                         " FROM searches s JOIN users u ON u.id = s.owner_id "
                         "WHERE ($1 = '' OR s.owner_id = NULLIF($1, '')::bigint) "
                         "AND ($2 = '' OR s.state = $2) AND ($5 = '' OR s.name = $5) "
                         "ORDER BY s.id DESC LIMIT $3 OFFSET $4"),
            q.owner_id ? absl::StrCat(*q.owner_id) : "",
            q.state ? std::string(SearchStateName(*q.state)) : "", limit + 1, offset, q.name);
        Page<SearchRecord> page;
        for (const pqxx::row& row : r) {
          if (static_cast<int>(page.items.size()) == limit) {
            page.next_page_token = absl::StrCat(offset + limit);
            break;
          }
          HWNAS_ASSIGN_OR_RETURN(SearchRecord s, ParseSearch(row));
          HWNAS_RETURN_IF_ERROR(AddSearchSummary(txn, s));
          page.items.push_back(std::move(s));
        }
        return page;
      });
}

absl::StatusOr<SearchRecord> Store::FinishSearch(int64_t search_id, SearchState state,
                                                 absl::string_view error) {
  if (state != SearchState::kCompleted && state != SearchState::kCancelled &&
      state != SearchState::kFailed) {
    return absl::InvalidArgumentError("a search can only finish as COMPLETED, CANCELLED or FAILED");
  }
  return impl_->Transact<SearchRecord>(
      "finish search", [&](pqxx::work& txn) -> absl::StatusOr<SearchRecord> {
        HWNAS_ASSIGN_OR_RETURN(SearchState current, LockSearch(txn, search_id));
        if (current != SearchState::kRunning) return QuerySearch(txn, search_id);
        txn.exec_params0(
            "UPDATE searches SET state = $2, error = $3, finished_at = now() WHERE id = $1",
            search_id, std::string(SearchStateName(state)), std::string(error));
        if (state != SearchState::kCompleted) {
          // Running trials too, at once rather than when their leases lapse:
          // their workers hear it on the next heartbeat (RenewLease), and a
          // result reported after this is refused.
          txn.exec_params0(
              "UPDATE trials SET state = 'CANCELLED', finished_at = now(), "
              "lease_expires_at = NULL "
              "WHERE search_id = $1 AND state IN ('PENDING', 'LEASED', 'RUNNING')",
              search_id);
        }
        txn.exec_params0(
            "INSERT INTO events (search_id, kind, payload) VALUES ($1, 'search_finished', "
            "jsonb_build_object('state', $2::text))",
            search_id, std::string(SearchStateName(state)));
        return QuerySearch(txn, search_id);
      });
}

absl::StatusOr<std::vector<SearchRecord>> Store::RunningSearches() {
  return impl_->Transact<std::vector<SearchRecord>>(
      "running searches", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<SearchRecord>> {
        pqxx::result r = txn.exec(absl::StrCat(
            "SELECT ", kSearchColumns,
            " FROM searches s JOIN users u ON u.id = s.owner_id WHERE s.state = 'RUNNING' "
            "ORDER BY s.id"));
        std::vector<SearchRecord> out;
        for (const pqxx::row& row : r) {
          HWNAS_ASSIGN_OR_RETURN(SearchRecord s, ParseSearch(row));
          HWNAS_ASSIGN_OR_RETURN(s.counts, QueryCounts(txn, s.id));
          out.push_back(std::move(s));
        }
        return out;
      });
}

// ---------------------------------------------------------------------------
// Trials.

namespace {

absl::StatusOr<TrialRecord> QueryTrialById(pqxx::work& txn, int64_t id) {
  pqxx::result r =
      txn.exec_params(absl::StrCat("SELECT ", kTrialColumns, " FROM trials t WHERE t.id = $1"), id);
  if (r.empty()) return absl::NotFoundError(absl::StrCat("trial id ", id, " does not exist"));
  return ParseTrial(r[0]);
}

// Locks the trial a lease belongs to and checks the caller holds it.
struct LeasedTrial {
  int64_t id = 0;
  int64_t search_id = 0;
  TrialState state = TrialState::kUnspecified;
  int attempts = 0;
};

absl::StatusOr<LeasedTrial> LockLease(pqxx::work& txn, absl::string_view lease_id,
                                      absl::string_view worker_id) {
  if (lease_id.empty()) return absl::InvalidArgumentError("lease_id is empty");
  pqxx::result r = txn.exec_params(
      "SELECT id, search_id, state, attempts, COALESCE(worker_id, '') FROM trials "
      "WHERE lease_id = $1 FOR UPDATE",
      std::string(lease_id));
  if (r.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("lease ", lease_id,
                     " is not held: it expired and the trial went to another worker, "
                     "or it never existed"));
  }
  if (r[0][4].as<std::string>() != worker_id) {
    return absl::PermissionDeniedError(
        absl::StrCat("lease ", lease_id, " is held by another worker"));
  }
  LeasedTrial t;
  t.id = r[0][0].as<int64_t>();
  t.search_id = r[0][1].as<int64_t>();
  HWNAS_ASSIGN_OR_RETURN(t.state, ParseTrialState(r[0][2].as<std::string>()));
  t.attempts = r[0][3].as<int>();
  return t;
}

absl::Status LeaseLost(absl::string_view lease_id) {
  return absl::FailedPreconditionError(absl::StrCat(
      "lease ", lease_id, " is no longer held: it expired and the trial was requeued"));
}

}  // namespace

absl::StatusOr<std::vector<TrialRecord>> Store::AddTrials(
    int64_t search_id, const std::vector<NewTrial>& trials,
    const std::optional<Checkpoint>& checkpoint) {
  int finished = 0;
  for (size_t i = 0; i < trials.size(); ++i) {
    const NewTrial& t = trials[i];
    HWNAS_RETURN_IF_ERROR(ValidateArchitecture(t.architecture));
    HWNAS_RETURN_IF_ERROR(ValidateReward(t.reward));
    if (t.result) HWNAS_RETURN_IF_ERROR(ValidateTrialResult(*t.result));
    if (t.state != TrialState::kPending && t.state != TrialState::kInfeasible &&
        t.state != TrialState::kSucceeded && t.state != TrialState::kFailed) {
      return absl::InvalidArgumentError(
          absl::StrCat("a new trial starts PENDING, INFEASIBLE, SUCCEEDED or FAILED, not ",
                       TrialStateName(t.state)));
    }
    if (t.state != TrialState::kPending) ++finished;
  }
  if (trials.empty() && !checkpoint) return std::vector<TrialRecord>{};
  return impl_->Transact<std::vector<TrialRecord>>(
      "add trials", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<TrialRecord>> {
        HWNAS_ASSIGN_OR_RETURN(SearchState state, LockSearch(txn, search_id));
        if (state != SearchState::kRunning) {
          return absl::FailedPreconditionError(absl::StrCat(
              "search ", search_id, " is ", SearchStateName(state), "; no trials can be added"));
        }
        // The row lock taken above serializes numbering: gap-free under
        // concurrency, and a rollback returns the numbers with the rows.
        int64_t number =
            txn.exec_params1(
                   "UPDATE searches SET next_trial_number = next_trial_number + $2 WHERE id = $1 "
                   "RETURNING next_trial_number - $2",
                   search_id, static_cast<int64_t>(trials.size()))[0]
                .as<int64_t>();
        int64_t finish_seq = finished > 0 ? TakeFinishSeqs(txn, search_id, finished) : 0;
        // All rows in one statement (a round trip per proposal batch, not
        // per trial); results of trials finished up front are written after.
        nlohmann::json rows = nlohmann::json::array();
        for (const NewTrial& t : trials) {
          const bool done = t.state != TrialState::kPending;
          nlohmann::json x = {{"number", number++},
                              {"space", t.architecture.space},
                              {"space_version", t.architecture.space_version},
                              {"tokens", TokensLiteral(t.architecture.tokens)},
                              {"readable", t.architecture.readable},
                              {"canonical_hash", static_cast<int64_t>(t.canonical_hash)},
                              {"state", std::string(TrialStateName(t.state))},
                              {"done", done},
                              {"proposal_id", static_cast<int64_t>(t.proposal_id)}};
          if (done) x["finish_seq"] = finish_seq++;
          rows.push_back(std::move(x));
        }
        std::vector<TrialRecord> out;
        if (!trials.empty()) {
          pqxx::result inserted = txn.exec_prepared(
              kInsertTrialsStmt, search_id,
              rows.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
          for (const pqxx::row& row : inserted) {
            HWNAS_ASSIGN_OR_RETURN(TrialRecord rec, ParseTrial(row));
            out.push_back(std::move(rec));
          }
          std::sort(out.begin(), out.end(),
                    [](const TrialRecord& a, const TrialRecord& b) { return a.number < b.number; });
          if (out.size() != trials.size()) {
            return absl::InternalError("add trials: not every trial was inserted");
          }
        }
        for (size_t i = 0; i < trials.size(); ++i) {
          const NewTrial& t = trials[i];
          if (t.result || t.reward || !t.failure_reason.empty()) {
            HWNAS_ASSIGN_OR_RETURN(
                out[i], ParseTrial(StoreResult(txn, out[i].id, t.result.value_or(TrialResult{}),
                                               t.reward, t.failure_reason)));
          }
        }
        if (checkpoint) InsertCheckpoint(txn, search_id, *checkpoint);
        return out;
      });
}

absl::StatusOr<std::optional<Lease>> Store::LeaseTrial(const LeaseRequest& req) {
  if (req.worker_id.empty()) return absl::InvalidArgumentError("worker_id is empty");
  if (req.ttl <= absl::ZeroDuration()) return absl::InvalidArgumentError("lease ttl must be > 0");
  const double ttl_seconds = absl::ToDoubleSeconds(req.ttl);
  // One statement per search, each its own implicit transaction: a lease is
  // one round trip.
  return impl_->Transact<std::optional<Lease>, pqxx::nontransaction>(
      "lease trial", [&](pqxx::nontransaction& txn) -> absl::StatusOr<std::optional<Lease>> {
        for (int64_t search_id : req.search_ids) {
          pqxx::result r =
              txn.exec_prepared(kLeaseTrialStmt, search_id, req.worker_id, ttl_seconds);
          if (r.empty()) continue;
          Lease lease;
          HWNAS_ASSIGN_OR_RETURN(lease.trial, ParseTrial(r[0]));
          lease.lease_id = lease.trial.lease_id;
          lease.expires_at = *lease.trial.lease_expires_at;
          return std::optional<Lease>(std::move(lease));
        }
        return std::optional<Lease>();
      });
}

absl::StatusOr<std::vector<std::optional<Lease>>> Store::LeaseTrials(
    const std::vector<std::string>& worker_ids, const std::vector<int64_t>& search_ids,
    absl::Duration ttl) {
  using Leases = std::vector<std::optional<Lease>>;
  for (const std::string& w : worker_ids) {
    if (w.empty()) return absl::InvalidArgumentError("worker_id is empty");
  }
  if (ttl <= absl::ZeroDuration()) return absl::InvalidArgumentError("lease ttl must be > 0");
  const double ttl_seconds = absl::ToDoubleSeconds(ttl);
  return impl_->Transact<Leases, pqxx::nontransaction>(
      "lease trials", [&](pqxx::nontransaction& txn) -> absl::StatusOr<Leases> {
        Leases out(worker_ids.size());
        std::vector<size_t> unserved(worker_ids.size());
        for (size_t i = 0; i < unserved.size(); ++i) unserved[i] = i;
        for (int64_t search_id : search_ids) {
          if (unserved.empty()) break;
          std::string array = "{";
          for (size_t k = 0; k < unserved.size(); ++k) {
            if (k > 0) array += ',';
            array += '"';
            for (char ch : worker_ids[unserved[k]]) {
              if (ch == '"' || ch == '\\') array += '\\';
              array += ch;
            }
            array += '"';
          }
          array += '}';
          pqxx::result r = txn.exec_prepared(kLeaseBatchStmt, search_id, array, ttl_seconds);
          std::vector<bool> served(unserved.size(), false);
          for (const pqxx::row& row : r) {
            // 1-based position in `array`, after the trial's columns.
            const int64_t ord = row[static_cast<int>(row.size()) - 1].as<int64_t>();
            if (ord < 1 || ord > static_cast<int64_t>(unserved.size())) {
              return absl::InternalError("batched lease answered an unknown worker");
            }
            Lease lease;
            HWNAS_ASSIGN_OR_RETURN(lease.trial, ParseTrial(row));
            lease.lease_id = lease.trial.lease_id;
            lease.expires_at = *lease.trial.lease_expires_at;
            out[unserved[ord - 1]] = std::move(lease);
            served[ord - 1] = true;
          }
          std::vector<size_t> left;
          for (size_t k = 0; k < unserved.size(); ++k) {
            if (!served[k]) left.push_back(unserved[k]);
          }
          unserved = std::move(left);
        }
        return out;
      });
}

absl::StatusOr<LeaseStatus> Store::RenewLease(absl::string_view lease_id,
                                              absl::string_view worker_id, absl::Duration ttl,
                                              const std::optional<EpochMetrics>& metrics) {
  if (metrics) HWNAS_RETURN_IF_ERROR(ValidateEpochMetrics(*metrics));
  if (ttl <= absl::ZeroDuration()) return absl::InvalidArgumentError("lease ttl must be > 0");
  return impl_->Transact<
      LeaseStatus>("renew lease", [&](pqxx::work& txn) -> absl::StatusOr<LeaseStatus> {
    HWNAS_ASSIGN_OR_RETURN(LeasedTrial t, LockLease(txn, lease_id, worker_id));
    LeaseStatus status;
    if (t.state == TrialState::kCancelled) {
      // Cancelled with its search while the worker ran it: tell it to stop.
      status.search_cancelled = true;
      status.expires_at = absl::Now();
      return status;
    }
    if (t.state != TrialState::kLeased && t.state != TrialState::kRunning) {
      return LeaseLost(lease_id);
    }
    const std::string search_state =
        txn.exec_params1("SELECT state FROM searches WHERE id = $1", t.search_id)[0]
            .as<std::string>();
    status.search_cancelled = search_state == "CANCELLED" || search_state == "FAILED";
    if (metrics) {
      for (const auto& [name, value] : metrics->values) {
        txn.exec_params0(
            "INSERT INTO trial_metrics (trial_id, epoch, name, value) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (trial_id, epoch, name) DO UPDATE SET value = EXCLUDED.value",
            t.id, metrics->epoch, name, value);
      }
    }
    pqxx::row r = txn.exec_params1(
        "UPDATE trials SET lease_expires_at = now() + make_interval(secs => $2), "
        "state = CASE WHEN $3 THEN 'RUNNING' ELSE state END WHERE id = $1 RETURNING " HWNAS_MICROS(
            "lease_expires_at"),
        t.id, absl::ToDoubleSeconds(ttl), metrics.has_value());
    status.expires_at = MicrosToTime(r[0]);
    return status;
  });
}

absl::StatusOr<ReportOutcome> Store::CompleteTrial(absl::string_view lease_id,
                                                   absl::string_view worker_id,
                                                   const TrialResult& result,
                                                   TrialState final_state,
                                                   std::optional<double> reward) {
  HWNAS_RETURN_IF_ERROR(ValidateTrialResult(result));
  HWNAS_RETURN_IF_ERROR(ValidateReward(reward));
  if (final_state != TrialState::kSucceeded && final_state != TrialState::kEarlyStopped) {
    return absl::InvalidArgumentError("a completed trial is SUCCEEDED or EARLY_STOPPED");
  }
  return impl_->Transact<ReportOutcome>(
      "complete trial", [&](pqxx::work& txn) -> absl::StatusOr<ReportOutcome> {
        HWNAS_ASSIGN_OR_RETURN(LeasedTrial t, LockLease(txn, lease_id, worker_id));
        ReportOutcome out;
        if (t.state == TrialState::kCancelled) {
          return absl::FailedPreconditionError(
              absl::StrCat("lease ", lease_id,
                           ": the trial was cancelled with its search; the result is not stored"));
        }
        if (IsTerminal(t.state)) {
          // Exactly once: the first report on this lease stands.
          out.duplicate = true;
          HWNAS_ASSIGN_OR_RETURN(out.trial, QueryTrialById(txn, t.id));
          return out;
        }
        if (t.state != TrialState::kLeased && t.state != TrialState::kRunning) {
          return LeaseLost(lease_id);
        }
        pqxx::row row = StoreResult(txn, t.id, result, reward, "", FinishAs{final_state, 0});
        HWNAS_ASSIGN_OR_RETURN(out.trial, ParseTrial(row));
        SetFinishSeq(txn, &out.trial);
        return out;
      });
}

std::vector<absl::StatusOr<ReportOutcome>> Store::CompleteTrials(
    const std::vector<Completion>& batch) {
  std::vector<absl::StatusOr<ReportOutcome>> out(batch.size(), absl::InternalError("not answered"));
  nlohmann::json reports = nlohmann::json::array();
  std::vector<bool> valid(batch.size(), false);
  for (size_t i = 0; i < batch.size(); ++i) {
    const Completion& c = batch[i];
    absl::Status ok = ValidateTrialResult(c.result);
    if (ok.ok()) ok = ValidateReward(c.reward);
    if (ok.ok() && c.lease_id.empty()) ok = absl::InvalidArgumentError("lease_id is empty");
    if (ok.ok() && c.final_state != TrialState::kSucceeded &&
        c.final_state != TrialState::kEarlyStopped) {
      ok = absl::InvalidArgumentError("a completed trial is SUCCEEDED or EARLY_STOPPED");
    }
    if (!ok.ok()) {
      out[i] = ok;
      continue;
    }
    valid[i] = true;
    const TrialResult& r = c.result;
    nlohmann::json estimates = nlohmann::json::object();
    for (const auto& [k, v] : r.estimates) estimates[k] = v;
    nlohmann::json x = {{"i", static_cast<int64_t>(i)},
                        {"lease_id", c.lease_id},
                        {"worker_id", c.worker_id},
                        {"state", std::string(TrialStateName(c.final_state))},
                        {"accuracy", r.accuracy},
                        {"loss", r.loss},
                        {"params", r.costs.params},
                        {"macs", r.costs.macs},
                        {"peak_activation_bytes", r.costs.peak_activation_bytes},
                        {"flash_bytes", r.costs.flash_bytes},
                        {"estimates", std::move(estimates)},
                        {"train_seconds", r.train_seconds},
                        {"epochs", r.epochs},
                        {"error", r.error}};
    if (r.latency) {
      x["latency_median_ms"] = r.latency->median_ms;
      x["latency_p90_ms"] = r.latency->p90_ms;
      x["latency_runs"] = r.latency->runs;
      x["latency_threads"] = r.latency->threads;
      x["latency_device"] = r.latency->device;
    }
    if (c.reward) x["reward"] = *c.reward;
    reports.push_back(std::move(x));
  }
  // Answers the entries the batch did not finish (duplicates, lost or
  // foreign leases) exactly as a single report would be answered.
  auto answer_alone = [&](size_t i) {
    const Completion& c = batch[i];
    out[i] = CompleteTrial(c.lease_id, c.worker_id, c.result, c.final_state, c.reward);
  };
  if (reports.empty()) return out;
  const std::string payload =
      reports.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  using Finished = std::map<int64_t, TrialRecord>;  // Batch index -> trial.
  absl::StatusOr<Finished> finished = impl_->Transact<Finished, pqxx::nontransaction>(
      "complete trials", [&](pqxx::nontransaction& txn) -> absl::StatusOr<Finished> {
        pqxx::result written = txn.exec_prepared(kCompleteBatchStmt, payload);
        Finished done;
        for (const pqxx::row& row : written) {
          HWNAS_ASSIGN_OR_RETURN(TrialRecord t, ParseTrial(row));
          done[row[static_cast<int>(row.size()) - 1].as<int64_t>()] = std::move(t);
        }
        return done;
      });
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!valid[i]) continue;
    if (!finished.ok()) {
      // The store is gone: every report fails alike and the workers retry.
      // Anything else (a conflict that would not clear): one at a time.
      if (absl::IsUnavailable(finished.status())) {
        out[i] = finished.status();
      } else {
        answer_alone(i);
      }
      continue;
    }
    auto it = finished->find(static_cast<int64_t>(i));
    if (it == finished->end()) {
      answer_alone(i);
      continue;
    }
    ReportOutcome o;
    o.trial = std::move(it->second);
    out[i] = std::move(o);
  }
  return out;
}

absl::StatusOr<ReportOutcome> Store::FailTrial(absl::string_view lease_id,
                                               absl::string_view worker_id,
                                               absl::string_view reason, bool retryable,
                                               int max_attempts,
                                               const std::optional<TrialResult>& partial,
                                               bool infeasible, std::optional<double> reward) {
  if (partial) HWNAS_RETURN_IF_ERROR(ValidateTrialResult(*partial));
  HWNAS_RETURN_IF_ERROR(ValidateReward(reward));
  if (reason.size() > 4096) return absl::InvalidArgumentError("failure reason is over 4096 bytes");
  return impl_->Transact<ReportOutcome>(
      "fail trial", [&](pqxx::work& txn) -> absl::StatusOr<ReportOutcome> {
        HWNAS_ASSIGN_OR_RETURN(LeasedTrial t, LockLease(txn, lease_id, worker_id));
        ReportOutcome out;
        if (IsTerminal(t.state) || t.state == TrialState::kPending) {
          // Already reported on this lease (finished, or requeued and not yet
          // leased again).
          out.duplicate = true;
          out.requeued = t.state == TrialState::kPending;
          HWNAS_ASSIGN_OR_RETURN(out.trial, QueryTrialById(txn, t.id));
          return out;
        }
        if (retryable && !infeasible && t.attempts < max_attempts) {
          txn.exec_params0(
              "UPDATE trials SET state = 'PENDING', lease_expires_at = NULL, failure_reason = $2 "
              "WHERE id = $1",
              t.id, std::string(reason));
          out.requeued = true;
        } else {
          if (partial || reward)
            StoreResult(txn, t.id, partial.value_or(TrialResult{}), reward, reason);
          txn.exec_params0(
              "UPDATE trials SET state = $2, failure_reason = $3, finished_at = now(), "
              "lease_expires_at = NULL WHERE id = $1",
              t.id, infeasible ? "INFEASIBLE" : "FAILED", std::string(reason));
          AssignFinishSeq(txn, t.id, t.search_id);
        }
        HWNAS_ASSIGN_OR_RETURN(out.trial, QueryTrialById(txn, t.id));
        return out;
      });
}

absl::StatusOr<std::vector<TrialRecord>> Store::RequeueExpiredLeases(int max_attempts) {
  return impl_->Transact<std::vector<TrialRecord>>(
      "requeue expired leases", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<TrialRecord>> {
        pqxx::result expired = txn.exec(
            "SELECT t.id, t.search_id, t.attempts, COALESCE(t.worker_id, ''), s.state "
            "FROM trials t JOIN searches s ON s.id = t.search_id "
            "WHERE t.state IN ('LEASED', 'RUNNING') AND t.lease_expires_at < now() "
            "ORDER BY t.id LIMIT 1000 FOR UPDATE OF t SKIP LOCKED");
        std::vector<TrialRecord> out;
        for (const pqxx::row& row : expired) {
          const int64_t id = row[0].as<int64_t>();
          const int64_t search_id = row[1].as<int64_t>();
          const std::string reason = absl::StrCat(
              "lease expired: worker ", row[3].as<std::string>(), " stopped sending heartbeats");
          if (row[4].as<std::string>() != "RUNNING") {
            txn.exec_params0(
                "UPDATE trials SET state = 'CANCELLED', lease_expires_at = NULL, "
                "finished_at = now() WHERE id = $1",
                id);
          } else if (row[2].as<int>() >= max_attempts) {
            txn.exec_params0(
                "UPDATE trials SET state = 'FAILED', failure_reason = $2, lease_expires_at = NULL, "
                "finished_at = now() WHERE id = $1",
                id, absl::StrCat(reason, " (attempt limit reached)"));
            AssignFinishSeq(txn, id, search_id);
          } else {
            txn.exec_params0(
                "UPDATE trials SET state = 'PENDING', failure_reason = $2, lease_expires_at = NULL "
                "WHERE id = $1",
                id, reason);
          }
          HWNAS_ASSIGN_OR_RETURN(TrialRecord rec, QueryTrialById(txn, id));
          out.push_back(std::move(rec));
        }
        return out;
      });
}

absl::StatusOr<TrialRecord> Store::GetTrial(int64_t search_id, int64_t number, bool with_epochs) {
  return impl_->Transact<TrialRecord>(
      "get trial", [&](pqxx::work& txn) -> absl::StatusOr<TrialRecord> {
        pqxx::result r =
            txn.exec_params(absl::StrCat("SELECT ", kTrialColumns,
                                         " FROM trials t WHERE t.search_id = $1 AND t.number = $2"),
                            search_id, number);
        if (r.empty()) {
          if (txn.exec_params("SELECT 1 FROM searches WHERE id = $1", search_id).empty()) {
            return absl::NotFoundError(absl::StrCat("search ", search_id, " does not exist"));
          }
          return absl::NotFoundError(absl::StrCat("search ", search_id, " has no trial ", number));
        }
        HWNAS_ASSIGN_OR_RETURN(TrialRecord t, ParseTrial(r[0]));
        if (with_epochs) {
          pqxx::result m = txn.exec_params(
              "SELECT epoch, name, value FROM trial_metrics WHERE trial_id = $1 "
              "ORDER BY epoch, name",
              t.id);
          for (const pqxx::row& row : m) {
            const int epoch = row[0].as<int>();
            if (t.epochs.empty() || t.epochs.back().epoch != epoch) {
              t.epochs.push_back(EpochMetrics{epoch, {}});
            }
            t.epochs.back().values[row[1].as<std::string>()] = row[2].as<double>();
          }
        }
        return t;
      });
}

absl::StatusOr<TrialRecord> Store::GetTrialByLease(absl::string_view lease_id) {
  if (lease_id.empty()) return absl::InvalidArgumentError("lease_id is empty");
  return impl_->Transact<TrialRecord>(
      "trial by lease", [&](pqxx::work& txn) -> absl::StatusOr<TrialRecord> {
        pqxx::result r = txn.exec_params(
            absl::StrCat("SELECT ", kTrialColumns, " FROM trials t WHERE t.lease_id = $1"),
            std::string(lease_id));
        if (r.empty()) {
          return absl::NotFoundError(absl::StrCat("lease ", lease_id, " is unknown"));
        }
        return ParseTrial(r[0]);
      });
}

absl::StatusOr<std::map<int64_t, std::map<int, double>>> Store::FinishedCurves(
    int64_t search_id, absl::string_view metric) {
  using Curves = std::map<int64_t, std::map<int, double>>;
  return impl_->Transact<Curves>("finished curves", [&](pqxx::work& txn) -> absl::StatusOr<Curves> {
    pqxx::result r = txn.exec_params(
        "SELECT t.number, m.epoch, m.value FROM trial_metrics m JOIN trials t ON t.id = m.trial_id "
        "WHERE t.search_id = $1 AND m.name = $2 AND t.finish_seq IS NOT NULL",
        search_id, std::string(metric));
    Curves curves;
    for (const pqxx::row& row : r) {
      curves[row[0].as<int64_t>()][row[1].as<int>()] = row[2].as<double>();
    }
    return curves;
  });
}

absl::StatusOr<Page<TrialRecord>> Store::ListTrials(const TrialQuery& q) {
  HWNAS_ASSIGN_OR_RETURN(int offset, ParsePageToken(q.page_token));
  const int limit = std::clamp(q.page_size <= 0 ? 100 : q.page_size, 1, 1000);
  std::string order;
  switch (q.order) {
    case TrialOrder::kNumber:
      order = "t.number";
      break;
    case TrialOrder::kRewardDesc:
      order = "t.reward DESC NULLS LAST, t.number";
      break;
    case TrialOrder::kAccuracyDesc:
      order = "t.accuracy DESC NULLS LAST, t.number";
      break;
    case TrialOrder::kLatencyAsc:
      order = "t.latency_median_ms ASC NULLS LAST, t.number";
      break;
  }
  return impl_->Transact<Page<TrialRecord>>(
      "list trials", [&](pqxx::work& txn) -> absl::StatusOr<Page<TrialRecord>> {
        if (txn.exec_params("SELECT 1 FROM searches WHERE id = $1", q.search_id).empty()) {
          return absl::NotFoundError(absl::StrCat("search ", q.search_id, " does not exist"));
        }
        pqxx::result r = txn.exec_params(
            absl::StrCat("SELECT ", kTrialColumns,
                         " FROM trials t WHERE t.search_id = $1 AND ($2 = '' OR t.state = $2) "
                         "ORDER BY ",
                         order, " LIMIT $3 OFFSET $4"),
            q.search_id, q.state ? std::string(TrialStateName(*q.state)) : "", limit + 1, offset);
        Page<TrialRecord> page;
        for (const pqxx::row& row : r) {
          if (static_cast<int>(page.items.size()) == limit) {
            page.next_page_token = absl::StrCat(offset + limit);
            break;
          }
          HWNAS_ASSIGN_OR_RETURN(TrialRecord t, ParseTrial(row));
          page.items.push_back(std::move(t));
        }
        return page;
      });
}

absl::StatusOr<TrialCounts> Store::CountTrials(int64_t search_id) {
  return impl_->Transact<TrialCounts>("count trials",
                                      [&](pqxx::work& txn) { return QueryCounts(txn, search_id); });
}

absl::StatusOr<QueueCounts> Store::CountQueue(int64_t search_id) {
  return impl_->Transact<QueueCounts, pqxx::nontransaction>(
      "count queue", [&](pqxx::nontransaction& txn) -> absl::StatusOr<QueueCounts> {
        // Each count reads only its own states' index entries, and every
        // trial that counts as finished took a finish sequence number, so the
        // counter row answers that without reading the trials at all.
        pqxx::result r = txn.exec_params(
            "SELECT (SELECT count(*) FROM trials WHERE search_id = $1 AND state = 'PENDING'), "
            "(SELECT count(*) FROM trials WHERE search_id = $1 "
            "AND state IN ('LEASED', 'RUNNING')), "
            "(SELECT next_finish_seq - 1 FROM search_finish_counters WHERE search_id = $1)",
            search_id);
        if (r[0][2].is_null()) {
          return absl::NotFoundError(absl::StrCat("search ", search_id, " does not exist"));
        }
        return QueueCounts{r[0][0].as<int64_t>(), r[0][1].as<int64_t>(), r[0][2].as<int64_t>()};
      });
}

absl::StatusOr<std::vector<TrialRecord>> Store::FinishedTrialsSince(int64_t search_id,
                                                                    int64_t after) {
  return impl_->Transact<std::vector<TrialRecord>>(
      "finished trials", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<TrialRecord>> {
        pqxx::result r = txn.exec_params(
            absl::StrCat("SELECT ", kTrialColumns,
                         " FROM trials t WHERE t.search_id = $1 AND t.finish_seq > $2 "
                         "ORDER BY t.finish_seq"),
            search_id, after);
        std::vector<TrialRecord> out;
        for (const pqxx::row& row : r) {
          HWNAS_ASSIGN_OR_RETURN(TrialRecord t, ParseTrial(row));
          out.push_back(std::move(t));
        }
        return out;
      });
}

absl::StatusOr<int64_t> Store::LastFinishSequence(int64_t search_id) {
  return impl_->Transact<int64_t>(
      "last finish sequence", [&](pqxx::work& txn) -> absl::StatusOr<int64_t> {
        pqxx::result r = txn.exec_params(
            "SELECT next_finish_seq - 1 FROM search_finish_counters WHERE search_id = $1",
            search_id);
        if (r.empty())
          return absl::NotFoundError(absl::StrCat("search ", search_id, " does not exist"));
        return r[0][0].as<int64_t>();
      });
}

absl::StatusOr<std::optional<TrialRecord>> Store::FindFinishedByHash(int64_t search_id,
                                                                     uint64_t hash) {
  return impl_->Transact<std::optional<TrialRecord>>(
      "find by hash", [&](pqxx::work& txn) -> absl::StatusOr<std::optional<TrialRecord>> {
        pqxx::result r = txn.exec_params(
            absl::StrCat("SELECT ", kTrialColumns,
                         " FROM trials t WHERE t.search_id = $1 AND t.canonical_hash = $2 AND "
                         "t.state IN ('SUCCEEDED', 'INFEASIBLE') ORDER BY t.number LIMIT 1"),
            search_id, static_cast<int64_t>(hash));
        if (r.empty()) return std::optional<TrialRecord>();
        HWNAS_ASSIGN_OR_RETURN(TrialRecord t, ParseTrial(r[0]));
        return std::optional<TrialRecord>(std::move(t));
      });
}

// ---------------------------------------------------------------------------
// Checkpoints.

absl::Status Store::SaveCheckpoint(int64_t search_id, const Checkpoint& c) {
  return impl_
      ->Transact<int>("save checkpoint",
                      [&](pqxx::work& txn) -> absl::StatusOr<int> {
                        HWNAS_RETURN_IF_ERROR(LockSearch(txn, search_id).status());
                        InsertCheckpoint(txn, search_id, c);
                        return 0;
                      })
      .status();
}

absl::StatusOr<std::optional<Checkpoint>> Store::LoadLatestCheckpoint(int64_t search_id) {
  return impl_->Transact<std::optional<Checkpoint>>(
      "load checkpoint", [&](pqxx::work& txn) -> absl::StatusOr<std::optional<Checkpoint>> {
        pqxx::result r = txn.exec_params(
            "SELECT sequence, state, observed_through FROM controller_checkpoints "
            "WHERE search_id = $1 ORDER BY sequence DESC LIMIT 1",
            search_id);
        if (r.empty()) return std::optional<Checkpoint>();
        Checkpoint c;
        c.sequence = r[0][0].as<int64_t>();
        c.state = pqxx::binarystring(r[0][1]).str();
        c.observed_through = r[0][2].as<int64_t>();
        return std::optional<Checkpoint>(std::move(c));
      });
}

// ---------------------------------------------------------------------------
// Workers.

absl::StatusOr<WorkerRecord> Store::UpsertWorker(const WorkerRecord& w) {
  if (w.owner_id <= 0) return absl::InvalidArgumentError("worker has no owner");
  if (w.name.empty()) return absl::InvalidArgumentError("worker name is empty");
  HWNAS_RETURN_IF_ERROR(CheckName("worker name", w.name));
  for (const std::vector<std::string>* list : {&w.datasets, &w.search_spaces, &w.evaluators}) {
    if (list->size() > 64) return absl::InvalidArgumentError("a capability list has over 64 items");
    for (const std::string& item : *list) HWNAS_RETURN_IF_ERROR(CheckName("capability", item));
  }
  for (const std::string* field : {&w.device_kind, &w.device_tag, &w.version, &w.hostname}) {
    HWNAS_RETURN_IF_ERROR(CheckName("worker field", *field));
  }
  const std::string sep(1, kArraySeparator);
  const std::string new_id = absl::StrCat("w-", RandomToken().substr(4, 12));
  return impl_->Transact<WorkerRecord>(
      "upsert worker", [&](pqxx::work& txn) -> absl::StatusOr<WorkerRecord> {
        pqxx::result r = txn.exec_params(
            absl::StrCat(
                "INSERT INTO workers AS w (id, name, device_kind, device_tag, threads, gpu, "
                "datasets, search_spaces, evaluators, version, hostname, owner_id) VALUES ($1, "
                "$2, $3, $4, $5, $6, COALESCE(string_to_array(NULLIF($7, ''), $12), '{}'), "
                "COALESCE(string_to_array(NULLIF($8, ''), $12), '{}'), "
                "COALESCE(string_to_array(NULLIF($9, ''), $12), '{}'), $10, $11, $13) "
                // Names are unique per owner: another token's worker of the
                // same name is another row (migration 0007).
                "ON CONFLICT (owner_id, name) DO UPDATE SET device_kind = EXCLUDED.device_kind, "
                "device_tag = EXCLUDED.device_tag, threads = EXCLUDED.threads, gpu = "
                "EXCLUDED.gpu, datasets = EXCLUDED.datasets, search_spaces = "
                "EXCLUDED.search_spaces, evaluators = EXCLUDED.evaluators, version = "
                "EXCLUDED.version, hostname = EXCLUDED.hostname, last_heartbeat = now() "
                "RETURNING ",
                kWorkerColumns),
            new_id, w.name, w.device_kind, w.device_tag, w.threads, w.gpu,
            absl::StrJoin(w.datasets, sep), absl::StrJoin(w.search_spaces, sep),
            absl::StrJoin(w.evaluators, sep), w.version, w.hostname, sep, w.owner_id);
        return ParseWorker(r[0]);
      });
}

absl::StatusOr<WorkerRecord> Store::GetWorker(absl::string_view worker_id) {
  return impl_->Transact<WorkerRecord>(
      "get worker", [&](pqxx::work& txn) -> absl::StatusOr<WorkerRecord> {
        pqxx::result r = txn.exec_params(
            absl::StrCat("SELECT ", kWorkerColumns, " FROM workers w WHERE w.id = $1"),
            std::string(worker_id));
        if (r.empty())
          return absl::NotFoundError(absl::StrCat("worker ", worker_id, " is unknown"));
        return ParseWorker(r[0]);
      });
}

absl::Status Store::TouchWorker(absl::string_view worker_id) {
  return impl_
      ->Transact<int>(
          "touch worker",
          [&](pqxx::work& txn) -> absl::StatusOr<int> {
            pqxx::result r = txn.exec_params(
                "UPDATE workers SET last_heartbeat = now() WHERE id = $1 RETURNING 1",
                std::string(worker_id));
            if (r.empty()) {
              return absl::NotFoundError(absl::StrCat("worker ", worker_id, " is unknown"));
            }
            return 0;
          })
      .status();
}

absl::StatusOr<std::vector<WorkerRecord>> Store::ListWorkers(absl::Duration alive_within) {
  return impl_->Transact<std::vector<WorkerRecord>>(
      "list workers", [&](pqxx::work& txn) -> absl::StatusOr<std::vector<WorkerRecord>> {
        pqxx::result r = txn.exec_params(
            absl::StrCat("SELECT ", kWorkerColumns,
                         " FROM workers w WHERE w.last_heartbeat > now() - make_interval(secs "
                         "=> $1) ORDER BY w.name"),
            absl::ToDoubleSeconds(alive_within));
        std::vector<WorkerRecord> out;
        for (const pqxx::row& row : r) out.push_back(ParseWorker(row));
        return out;
      });
}

// ---------------------------------------------------------------------------
// Events.

absl::Status Store::AppendEvent(int64_t search_id, std::optional<int64_t> trial_number,
                                absl::string_view kind, absl::string_view payload_json) {
  if (kind.empty()) return absl::InvalidArgumentError("event kind is empty");
  HWNAS_RETURN_IF_ERROR(CheckName("event kind", kind));
  if (!nlohmann::json::accept(payload_json.begin(), payload_json.end())) {
    return absl::InvalidArgumentError("event payload is not valid JSON");
  }
  return impl_
      ->Transact<int>("append event",
                      [&](pqxx::work& txn) -> absl::StatusOr<int> {
                        txn.exec_params0(
                            "INSERT INTO events (search_id, trial_number, kind, payload) VALUES "
                            "($1, NULLIF($2, '')::bigint, $3, $4::jsonb)",
                            search_id, trial_number ? absl::StrCat(*trial_number) : "",
                            std::string(kind), std::string(payload_json));
                        return 0;
                      })
      .status();
}

absl::StatusOr<std::vector<Event>> Store::ListEvents(int64_t search_id, int64_t after_id,
                                                     int limit) {
  return impl_->Transact<std::vector<Event>>("list events",
                                             [&](pqxx::work& txn)
                                                 -> absl::StatusOr<std::vector<Event>> {
                                               pqxx::result r = txn.exec_params(
            "SELECT id, search_id, trial_number, kind, payload::text, " HWNAS_MICROS(
                "created_at") " FROM events WHERE search_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            search_id, after_id, std::clamp(limit, 1, 10000));
                                               std::vector<Event> out;
                                               for (const pqxx::row& row : r) {
                                                 Event e;
                                                 e.id = row[0].as<int64_t>();
                                                 e.search_id = row[1].as<int64_t>();
                                                 if (!row[2].is_null())
                                                   e.trial_number = row[2].as<int64_t>();
                                                 e.kind = row[3].as<std::string>();
                                                 e.payload_json = row[4].as<std::string>();
                                                 e.created_at = MicrosToTime(row[5]);
                                                 out.push_back(std::move(e));
                                               }
                                               return out;
                                             });
}

}  // namespace hwnas::db
