// `hwnas local` as a user runs it: the real binary starts PostgreSQL, the
// server and workers, runs a search to the end and prints the results; a
// run interrupted with SIGINT shuts down cleanly and the next run resumes the
// same search, which ends with exactly its budget of finished trials.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "cli/local.h"
#include "common/subprocess.h"
#include "db/local_postgres.h"
#include "db/postgres_store.h"
#include "gtest/gtest.h"
#include "tests/cli/processes.h"
#include "tests/testing/test_paths.h"

namespace hwnas::cli {
namespace {

using testing::BinaryPath;
using testing::kTinyFashionSpec;
using testing::ReadWholeFile;
using testing::WaitFor;

// Removes a test's state directory and its logs when the test passed.
struct CleanUp {
  std::string state;
  ~CleanUp() { testing::RemoveUnlessFailed(state); }
};

struct LocalRun {
  ChildProcess process;
  std::string log;
};

LocalRun StartLocal(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> argv = {BinaryPath("cli/hwnas"), "local"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto child = ChildProcess::Start(
      {.argv = argv,
       .env = {absl::StrCat("HWNAS_SHARED_DATA=", hwnas::testing::SharedDataDir())},
       .log_path = log});
  EXPECT_TRUE(child.ok()) << child.status();
  return {*std::move(child), log};
}

// The exit code of a finished run (fails the test on timeout).
int Finish(LocalRun& run, absl::Duration timeout) {
  std::optional<int> code = run.process.Wait(timeout);
  EXPECT_TRUE(code.has_value()) << "hwnas local did not finish; output:\n"
                                << ReadWholeFile(run.log);
  if (!code) return run.process.Stop(absl::Seconds(30));
  return *code;
}

bool PostgresStopped(const std::string& state) {
  return !std::filesystem::exists(absl::StrCat(state, "/postgres/pgdata/postmaster.pid"));
}

TEST(SpecHash, IgnoresCommentsAndLayoutButNotValues) {
  const std::string base = "name: a\nbudget: {trials: 4}\n";
  EXPECT_EQ(SpecHash(base),
            SpecHash("# my search\nname:   a   # the name\nbudget:\n  trials: 4\n"));
  EXPECT_NE(SpecHash(base), SpecHash("name: a\nbudget: {trials: 5}\n"));
  EXPECT_EQ(SpecHash(base).size(), 16u);
  // Text that is not YAML still hashes (the server rejects it later).
  EXPECT_NE(SpecHash("{unclosed"), SpecHash("{unclosed2"));
}

TEST(FindHwnasProgram, OverrideThenNextToTheBinaryThenPath) {
  auto env_with = [](std::map<std::string, std::string> vars) -> EnvLookup {
    return [vars](absl::string_view name) -> std::optional<std::string> {
      auto it = vars.find(std::string(name));
      if (it == vars.end()) return std::nullopt;
      return it->second;
    };
  };
  const std::string worker = BinaryPath("worker/hwnas-worker");
  auto found = FindHwnasProgram("hwnas-worker", env_with({{"HWNAS_WORKER_BIN", worker}}));
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(*found, worker);
  auto bad = FindHwnasProgram("hwnas-server", env_with({{"HWNAS_SERVER_BIN", "/nonexistent/x"}}));
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(bad.status().message(), "$HWNAS_SERVER_BIN is /nonexistent/x"));
  // This test binary is not next to the programs, and PATH has none.
  auto missing = FindHwnasProgram("hwnas-server", env_with({{"PATH", "/nonexistent"}}));
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(absl::StrContains(missing.status().message(), "set $HWNAS_SERVER_BIN"))
      << missing.status();
  auto on_path = FindHwnasProgram(
      "hwnas-server", env_with({{"PATH", absl::StrCat("/nonexistent:", BinaryPath("server"))}}));
  ASSERT_TRUE(on_path.ok()) << on_path.status();
  EXPECT_EQ(*on_path, BinaryPath("server/hwnas-server"));
}

TEST(HwnasLocal, ResumeWithoutAnEarlierSearchStartsNothing) {
  const std::string state = testing::NewTempDir("hwnas-local-resume");
  CleanUp clean_up{state};
  const std::string spec = absl::StrCat(hwnas::testing::SourceDir(), "/examples/nb201-table.yaml");
  LocalRun run =
      StartLocal({spec, "--state-dir", state, "--resume"}, absl::StrCat(state, "-run.log"));
  EXPECT_EQ(Finish(run, absl::Seconds(30)), 2);
  EXPECT_TRUE(absl::StrContains(ReadWholeFile(run.log), "--resume: no search of"))
      << ReadWholeFile(run.log);
  EXPECT_FALSE(std::filesystem::exists(absl::StrCat(state, "/postgres")));
}

// The state directory is new, empty or an earlier run's, never empty as a
// flag (that would be /), and used by one `hwnas local` at a time.
TEST(HwnasLocal, StateDirectoryIsCheckedBeforeAnythingStarts) {
  const std::string state = testing::NewTempDir("hwnas-local-dirs");
  CleanUp clean_up{state};
  const std::string spec = absl::StrCat(hwnas::testing::SourceDir(), "/examples/nb201-table.yaml");

  LocalRun empty = StartLocal({spec, "--state-dir", ""}, absl::StrCat(state, "-empty.log"));
  EXPECT_EQ(Finish(empty, absl::Seconds(30)), 1);
  EXPECT_TRUE(absl::StrContains(ReadWholeFile(empty.log), "--state-dir: give a directory"))
      << ReadWholeFile(empty.log);

  // Someone else's directory: refused, its files and mode untouched.
  const std::string shared = absl::StrCat(state, "/shared");
  std::filesystem::create_directories(shared);
  std::ofstream(absl::StrCat(shared, "/notes.txt")) << "mine\n";
  ASSERT_EQ(chmod(shared.c_str(), 01777), 0);
  LocalRun foreign = StartLocal({spec, "--state-dir", shared}, absl::StrCat(state, "-foreign.log"));
  EXPECT_EQ(Finish(foreign, absl::Seconds(30)), 1);
  EXPECT_TRUE(absl::StrContains(ReadWholeFile(foreign.log), "holds other files"))
      << ReadWholeFile(foreign.log);
  struct stat st {};
  ASSERT_EQ(stat(shared.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 01777u);
  EXPECT_FALSE(std::filesystem::exists(absl::StrCat(shared, "/logs")));

  // A state directory another run holds.
  const std::string busy = absl::StrCat(state, "/busy");
  std::filesystem::create_directories(busy);
  const int fd = open(absl::StrCat(busy, "/lock").c_str(), O_RDWR | O_CREAT, 0600);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(flock(fd, LOCK_EX | LOCK_NB), 0);
  LocalRun second = StartLocal({spec, "--state-dir", busy}, absl::StrCat(state, "-busy.log"));
  EXPECT_EQ(Finish(second, absl::Seconds(30)), 2);
  EXPECT_TRUE(absl::StrContains(ReadWholeFile(second.log), "another hwnas local is running"))
      << ReadWholeFile(second.log);
  EXPECT_FALSE(std::filesystem::exists(absl::StrCat(busy, "/postgres")));
  close(fd);
}

// Workers started without the data the search needs: every local worker is
// alike, so `hwnas local` stops with the reason instead of waiting forever.
TEST(HwnasLocal, WorkersThatCannotRunTheSearchEndTheRunWithTheReason) {
  const std::string state = testing::NewTempDir("hwnas-local-nodata");
  CleanUp clean_up{state};
  const std::string empty_data = absl::StrCat(state, "-data");
  std::filesystem::create_directories(empty_data);
  const std::string spec = absl::StrCat(hwnas::testing::SourceDir(), "/examples/nb201-table.yaml");
  LocalRun run =
      StartLocal({spec, "--workers", "1", "--state-dir", state, "--data-dir", empty_data},
                 absl::StrCat(state, "-run.log"));
  EXPECT_EQ(Finish(run, absl::Minutes(2)), 2) << ReadWholeFile(run.log);
  const std::string out = ReadWholeFile(run.log);
  EXPECT_TRUE(absl::StrContains(
      out, absl::StrCat("the local workers cannot run search 1: no connected worker can run it (1 "
                        "connected; worker has no 'table' evaluator); check --data-dir (now ",
                        empty_data, ")")))
      << out;
  EXPECT_TRUE(PostgresStopped(state));
  std::filesystem::remove_all(empty_data);
}

// `hwnas local ... | head` used to die of SIGPIPE and leave PostgreSQL, the
// server and the workers running; it shuts down in order instead.
TEST(HwnasLocal, AReaderThatGoesAwayShutsEverythingDown) {
  const std::string state = testing::NewTempDir("hwnas-local-pipe");
  CleanUp clean_up{state};
  const std::string spec = absl::StrCat(hwnas::testing::SourceDir(), "/examples/nb201-table.yaml");
  // bash waits for every command of the pipeline, hwnas local included.
  absl::StatusOr<CommandResult> run = RunCommand(
      {"bash", "-c",
       absl::StrCat("HWNAS_SHARED_DATA=", hwnas::testing::SharedDataDir(), " ",
                    BinaryPath("cli/hwnas"), " local ", spec, " --workers 1 --state-dir ", state,
                    " 2>", state, "-err.log | head -2")},
      absl::Minutes(2));
  ASSERT_TRUE(run.ok()) << run.status();
  const std::string err = ReadWholeFile(absl::StrCat(state, "-err.log"));
  EXPECT_TRUE(absl::StrContains(err, "interrupted: shutting down")) << err;
  EXPECT_TRUE(absl::StrContains(err, "stopping PostgreSQL")) << err;
  EXPECT_TRUE(PostgresStopped(state)) << err;
}

TEST(HwnasLocal, RunsTheNb201TableExampleAndKeepsItsState) {
  const std::string state = testing::NewTempDir("hwnas-local-nb201");
  CleanUp clean_up{state};
  const std::string spec = absl::StrCat(hwnas::testing::SourceDir(), "/examples/nb201-table.yaml");
  LocalRun run = StartLocal({spec, "--workers", "2", "--batch", "16", "--state-dir", state},
                            absl::StrCat(state, "-run1.log"));
  ASSERT_EQ(Finish(run, absl::Minutes(4)), 0) << ReadWholeFile(run.log);
  const std::string out = ReadWholeFile(run.log);
  EXPECT_TRUE(absl::StrContains(out, "submitted search 1")) << out;
  // The workers took the table trials in batches.
  const std::string worker_log = ReadWholeFile(absl::StrCat(state, "/logs/worker-1.log")) +
                                 ReadWholeFile(absl::StrCat(state, "/logs/worker-2.log"));
  EXPECT_TRUE(absl::StrContains(worker_log, "event=trials_reported")) << worker_log;
  EXPECT_TRUE(absl::StrContains(out, "1000/1000")) << out;
  EXPECT_TRUE(absl::StrContains(out, "Pareto front of search 1")) << out;
  EXPECT_TRUE(absl::StrContains(out, "* Pareto front")) << out;
  EXPECT_TRUE(absl::StrContains(out, "Best architecture (trial")) << out;
  EXPECT_TRUE(absl::StrContains(out, "|nor_conv") || absl::StrContains(out, "|skip_connect") ||
              absl::StrContains(out, "|avg_pool"))
      << out;
  EXPECT_TRUE(absl::StrContains(out, "stopping PostgreSQL")) << out;
  EXPECT_TRUE(PostgresStopped(state));

  // Secrets are private; the client config points at the server it ran.
  struct stat st {};
  ASSERT_EQ(stat(absl::StrCat(state, "/tokens.yaml").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat(absl::StrCat(state, "/config.yaml").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(
      absl::StrContains(ReadWholeFile(absl::StrCat(state, "/config.yaml")), "server: 127.0.0.1:"));

  // A lost tokens.yaml: the next run has hwnas-server issue new tokens to
  // the users the first run made (create-user finds them, issue-token).
  const std::string tokens_path = absl::StrCat(state, "/tokens.yaml");
  const std::string first_tokens = ReadWholeFile(tokens_path);
  EXPECT_TRUE(absl::StrContains(first_tokens, "admin_token: hwn_")) << first_tokens;
  ASSERT_TRUE(std::filesystem::remove(tokens_path));

  // A second run with --resume finds the finished search in the same
  // database and prints its results without running anything.
  LocalRun again = StartLocal({spec, "--workers", "1", "--state-dir", state, "--resume"},
                              absl::StrCat(state, "-run2.log"));
  ASSERT_EQ(Finish(again, absl::Minutes(2)), 0) << ReadWholeFile(again.log);
  const std::string out2 = ReadWholeFile(again.log);
  EXPECT_TRUE(absl::StrContains(out2, "showing search 1 (1000/1000 trials done)")) << out2;
  EXPECT_TRUE(absl::StrContains(out2, "Pareto front of search 1")) << out2;
  EXPECT_FALSE(absl::StrContains(out2, "submitted search")) << out2;
  const std::string second_tokens = ReadWholeFile(tokens_path);
  EXPECT_TRUE(absl::StrContains(second_tokens, "admin_user: local-admin")) << second_tokens;
  EXPECT_TRUE(absl::StrContains(second_tokens, "worker_token: hwn_")) << second_tokens;
  EXPECT_NE(second_tokens, first_tokens);
}

TEST(HwnasLocal, SigintStopsCleanlyAndTheNextRunResumesTheSameSearch) {
  const std::string state = testing::NewTempDir("hwnas-local-fashion");
  CleanUp clean_up{state};
  const std::string spec = absl::StrCat(state, "-tiny.yaml");
  // Trials of a few seconds each, so the interrupt below lands mid-search
  // even on an idle machine (with the 256-image spec all four trials can
  // finish within one progress poll).
  std::ofstream(spec) << absl::StrReplaceAll(
      kTinyFashionSpec, {{"train_subset: 256", "train_subset: 4000"}, {"epochs: 1", "epochs: 2"}});

  LocalRun first =
      StartLocal({spec, "--workers", "1", "--state-dir", state}, absl::StrCat(state, "-run1.log"));
  // Interrupt once the first trial has finished, mid-search.
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string out = ReadWholeFile(first.log);
        return absl::StrContains(out, " SUCCEEDED") || absl::StrContains(out, " INFEASIBLE");
      },
      absl::Minutes(3)))
      << ReadWholeFile(first.log);
  first.process.Signal(SIGINT);
  ASSERT_EQ(Finish(first, absl::Minutes(1)), 130) << ReadWholeFile(first.log);
  const std::string out1 = ReadWholeFile(first.log);
  EXPECT_TRUE(absl::StrContains(out1, "submitted search 1")) << out1;
  EXPECT_TRUE(absl::StrContains(out1, "run the same command again to resume search 1")) << out1;
  EXPECT_FALSE(absl::StrContains(out1, "Pareto front of search")) << out1;
  EXPECT_TRUE(PostgresStopped(state));

  LocalRun second =
      StartLocal({spec, "--workers", "1", "--state-dir", state}, absl::StrCat(state, "-run2.log"));
  ASSERT_EQ(Finish(second, absl::Minutes(3)), 0) << ReadWholeFile(second.log);
  const std::string out2 = ReadWholeFile(second.log);
  EXPECT_TRUE(absl::StrContains(out2, "resuming search 1 (an unfinished search of " + spec))
      << out2;
  EXPECT_TRUE(absl::StrContains(out2, "trials done; run with --fresh to start a new search"))
      << out2;
  EXPECT_FALSE(absl::StrContains(out2, "submitted search")) << out2;
  EXPECT_TRUE(absl::StrContains(out2, "Pareto front of search 1")) << out2;
  EXPECT_TRUE(absl::StrContains(out2, "Best architecture (trial")) << out2;
  EXPECT_TRUE(PostgresStopped(state));

  // The store: one search, COMPLETED, exactly its budget of finished trials,
  // each number once.
  db::LocalPostgres::Options options;
  options.dir = absl::StrCat(state, "/postgres");
  db::LocalPostgres postgres(options);
  ASSERT_TRUE(postgres.Start().ok());
  auto store =
      db::PostgresStore::Open({.connection_string = postgres.ConnectionString(), .pool_size = 1});
  ASSERT_TRUE(store.ok()) << store.status();
  auto search = (*store)->GetSearch(1);
  ASSERT_TRUE(search.ok()) << search.status();
  EXPECT_EQ(search->state, SearchState::kCompleted);
  EXPECT_EQ(search->counts.finished(), 4);
  EXPECT_FALSE((*store)->GetSearch(2).ok());
  db::TrialQuery query;
  query.search_id = 1;
  auto trials = (*store)->ListTrials(query);
  ASSERT_TRUE(trials.ok()) << trials.status();
  std::set<int64_t> numbers;
  int finished = 0;
  for (const TrialRecord& t : trials->items) {
    EXPECT_TRUE(numbers.insert(t.number).second) << "trial " << t.number << " twice";
    if (t.state == TrialState::kSucceeded || t.state == TrialState::kInfeasible ||
        t.state == TrialState::kFailed || t.state == TrialState::kEarlyStopped) {
      ++finished;
    }
  }
  EXPECT_EQ(finished, 4);
}

// --fresh after an interrupted run: the unfinished search is cancelled (its
// trials stay) and a new one of the same spec runs to the end.
TEST(HwnasLocal, FreshCancelsTheUnfinishedSearchAndStartsANewOne) {
  const std::string state = testing::NewTempDir("hwnas-local-fresh");
  CleanUp clean_up{state};
  const std::string spec = absl::StrCat(state, "-tiny.yaml");
  std::ofstream(spec) << absl::StrReplaceAll(
      kTinyFashionSpec, {{"train_subset: 256", "train_subset: 4000"}, {"epochs: 1", "epochs: 2"}});
  LocalRun contradiction = StartLocal({spec, "--state-dir", state, "--resume", "--fresh"},
                                      absl::StrCat(state, "-run0.log"));
  EXPECT_EQ(Finish(contradiction, absl::Minutes(1)), 1) << ReadWholeFile(contradiction.log);
  EXPECT_TRUE(absl::StrContains(ReadWholeFile(contradiction.log),
                                "--resume and --fresh contradict each other"))
      << ReadWholeFile(contradiction.log);

  LocalRun first =
      StartLocal({spec, "--workers", "1", "--state-dir", state}, absl::StrCat(state, "-run1.log"));
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string out = ReadWholeFile(first.log);
        return absl::StrContains(out, " SUCCEEDED") || absl::StrContains(out, " INFEASIBLE");
      },
      absl::Minutes(3)))
      << ReadWholeFile(first.log);
  first.process.Signal(SIGINT);
  ASSERT_EQ(Finish(first, absl::Minutes(1)), 130) << ReadWholeFile(first.log);

  LocalRun second = StartLocal({spec, "--workers", "1", "--state-dir", state, "--fresh"},
                               absl::StrCat(state, "-run2.log"));
  ASSERT_EQ(Finish(second, absl::Minutes(3)), 0) << ReadWholeFile(second.log);
  const std::string out2 = ReadWholeFile(second.log);
  EXPECT_TRUE(absl::StrContains(out2, "--fresh: cancelled the unfinished search 1 of " + spec))
      << out2;
  EXPECT_TRUE(absl::StrContains(out2, "submitted search 2")) << out2;
  EXPECT_FALSE(absl::StrContains(out2, "resuming search")) << out2;
  EXPECT_TRUE(absl::StrContains(out2, "Pareto front of search 2")) << out2;

  db::LocalPostgres::Options options;
  options.dir = absl::StrCat(state, "/postgres");
  db::LocalPostgres postgres(options);
  ASSERT_TRUE(postgres.Start().ok());
  auto store =
      db::PostgresStore::Open({.connection_string = postgres.ConnectionString(), .pool_size = 1});
  ASSERT_TRUE(store.ok()) << store.status();
  auto old_search = (*store)->GetSearch(1);
  ASSERT_TRUE(old_search.ok()) << old_search.status();
  EXPECT_EQ(old_search->state, SearchState::kCancelled);
  EXPECT_GE(old_search->counts.finished(), 1);  // What it had done stays.
  auto new_search = (*store)->GetSearch(2);
  ASSERT_TRUE(new_search.ok()) << new_search.status();
  EXPECT_EQ(new_search->state, SearchState::kCompleted);
  EXPECT_EQ(new_search->counts.finished(), 4);
}

TEST(HwnasLocal, BadSpecIsRejectedAndEverythingStops) {
  const std::string state = testing::NewTempDir("hwnas-local-bad");
  CleanUp clean_up{state};
  const std::string spec = absl::StrCat(state, "-bad.yaml");
  std::ofstream(spec)
      << "name: bad\nspace: {name: nb201}\nevaluator: {kind: table}\nbudget: {trials: 0}\n";
  LocalRun run =
      StartLocal({spec, "--workers", "1", "--state-dir", state}, absl::StrCat(state, "-run.log"));
  EXPECT_EQ(Finish(run, absl::Minutes(2)), 2) << ReadWholeFile(run.log);
  const std::string out = ReadWholeFile(run.log);
  EXPECT_TRUE(absl::StrContains(
      out, absl::StrCat("the spec ", spec,
                        " is not valid:\n  budget.trials: must be between 1 and 10000000")))
      << out;
  // Checked before anything starts: no cluster, server or workers, and
  // nothing written to the state directory.
  EXPECT_FALSE(absl::StrContains(out, "PostgreSQL on")) << out;
  EXPECT_TRUE(std::filesystem::is_empty(state));
}

// Folds that cannot work on the data set (ECG5000's rarest class has 2
// beats in the pool, so 5 stratified folds are impossible) are refused
// before anything starts, naming the field, as a worker would refuse them
// on its first trial.
TEST(HwnasLocal, FoldsThatDoNotFitTheDataAreRejectedBeforeAnythingStarts) {
  const std::string state = testing::NewTempDir("hwnas-local-folds");
  CleanUp clean_up{state};
  std::string spec_text =
      ReadWholeFile(absl::StrCat(hwnas::testing::SourceDir(), "/examples/ecg-tinyml.yaml"));
  ASSERT_TRUE(absl::StrContains(spec_text, "  folds: 2\n"));
  absl::StrReplaceAll({{"  folds: 2\n", "  folds: 5\n"}}, &spec_text);
  const std::string spec = absl::StrCat(state, "-folds.yaml");
  std::ofstream(spec) << spec_text;
  LocalRun run =
      StartLocal({spec, "--workers", "1", "--state-dir", state}, absl::StrCat(state, "-run.log"));
  EXPECT_EQ(Finish(run, absl::Minutes(3)), 2) << ReadWholeFile(run.log);
  const std::string out = ReadWholeFile(run.log);
  EXPECT_TRUE(absl::StrContains(
      out, absl::StrCat("the spec ", spec, " is not valid:\n  evaluation.folds is 5 but class ")))
      << out;
  EXPECT_FALSE(absl::StrContains(out, "PostgreSQL on")) << out;
  EXPECT_TRUE(std::filesystem::is_empty(state));
}

}  // namespace
}  // namespace hwnas::cli
