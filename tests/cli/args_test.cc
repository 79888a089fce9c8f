// Argument parsing, config precedence (flags > env > file) and the mapping
// from gRPC status codes to exit codes and messages.
#include "cli/args.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "cli/app.h"
#include "cli/config.h"
#include "cli/errors.h"
#include "gtest/gtest.h"

namespace hwnas::cli {
namespace {

const CommandSpec& Spec(absl::string_view name) {
  for (const CommandSpec& c : Commands()) {
    if (c.name == name) return c;
  }
  ADD_FAILURE() << "no command " << name;
  return Commands().front();
}

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars](absl::string_view name) -> std::optional<std::string> {
    auto it = vars.find(std::string(name));
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

TEST(ParseCommandArgs, FlagsAndPositionalsInAnyOrder) {
  auto parsed = ParseCommandArgs(
      Spec("trials"), GlobalFlags(),
      {"--top", "5", "12", "--sort=flash_bytes", "-ojson", "-r", "--server", "h:1"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->positionals, std::vector<std::string>{"12"});
  EXPECT_EQ(parsed->Get("top"), "5");
  EXPECT_EQ(parsed->Get("sort"), "flash_bytes");
  EXPECT_EQ(parsed->Get("output"), "json");
  EXPECT_EQ(parsed->Get("server"), "h:1");
  EXPECT_TRUE(parsed->Has("reverse"));
  EXPECT_FALSE(parsed->Has("state"));
}

TEST(ParseCommandArgs, CommandFlagsShadowGlobalOnes) {
  // report's -o is the output file, not the format.
  auto parsed = ParseCommandArgs(Spec("report"), GlobalFlags(), {"3", "-o", "r.html"});
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->Get("output"), "r.html");
  EXPECT_EQ(CommandHelp(Spec("report"), GlobalFlags()).find("output format"), std::string::npos);
}

TEST(ParseCommandArgs, UsageErrors) {
  auto unknown = ParseCommandArgs(Spec("ls"), GlobalFlags(), {"--bogus"});
  EXPECT_TRUE(IsUsageError(unknown.status()));
  EXPECT_NE(unknown.status().message().find("--bogus"), absl::string_view::npos);
  auto missing_value = ParseCommandArgs(Spec("ls"), GlobalFlags(), {"--state"});
  EXPECT_TRUE(IsUsageError(missing_value.status()));
  auto missing_positional = ParseCommandArgs(Spec("trial"), GlobalFlags(), {"12"});
  EXPECT_TRUE(IsUsageError(missing_positional.status()));
  EXPECT_NE(missing_positional.status().message().find("N"), absl::string_view::npos);
  auto extra = ParseCommandArgs(Spec("status"), GlobalFlags(), {"1", "2"});
  EXPECT_TRUE(IsUsageError(extra.status()));
  auto bool_with_value = ParseCommandArgs(Spec("submit"), GlobalFlags(), {"--watch=yes"});
  EXPECT_TRUE(IsUsageError(bool_with_value.status()));
  EXPECT_EQ(ExitCodeFor(unknown.status()), kExitUsage);
}

TEST(ParseCommandArgs, HelpSkipsOtherChecks) {
  auto parsed = ParseCommandArgs(Spec("trial"), GlobalFlags(), {"--help"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_TRUE(parsed->help);
}

TEST(ParsePositiveInt, RejectsNonNumbers) {
  EXPECT_EQ(*ParsePositiveInt("42", "ID"), 42);
  EXPECT_TRUE(IsUsageError(ParsePositiveInt("abc", "ID").status()));
  EXPECT_TRUE(IsUsageError(ParsePositiveInt("0", "ID").status()));
  EXPECT_TRUE(IsUsageError(ParsePositiveInt("-3", "ID").status()));
}

TEST(CommandHelp, EveryCommandHasExamplesAndGlobalFlags) {
  for (const CommandSpec& c : Commands()) {
    std::string help = CommandHelp(c, GlobalFlags());
    EXPECT_NE(help.find("Usage: hwnas " + c.name), std::string::npos) << c.name;
    EXPECT_NE(help.find("Examples:"), std::string::npos) << c.name;
    EXPECT_NE(help.find("--server"), std::string::npos) << c.name;
  }
  EXPECT_NE(MainHelp().find("Exit codes:"), std::string::npos);
}

TEST(ResolveConnection, FlagsBeatEnvBeatFileBeatDefaults) {
  FileConfig file;
  file.server = "file:1";
  file.token = "file-token";
  file.tls_ca = "/etc/file-ca.pem";
  file.timeout = absl::Seconds(5);

  ConnectionFlags none;
  auto defaults = ResolveConnection(none, FakeEnv({}), std::nullopt);
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->server, "127.0.0.1:7470");
  EXPECT_EQ(defaults->server_source, "default");
  EXPECT_EQ(defaults->token, "");
  EXPECT_FALSE(defaults->tls);
  EXPECT_EQ(defaults->timeout, absl::Seconds(30));

  auto from_file = ResolveConnection(none, FakeEnv({}), file);
  ASSERT_TRUE(from_file.ok());
  EXPECT_EQ(from_file->server, "file:1");
  EXPECT_EQ(from_file->server_source, "config");
  EXPECT_EQ(from_file->token, "file-token");
  EXPECT_TRUE(from_file->tls);
  EXPECT_EQ(from_file->tls_ca, "/etc/file-ca.pem");
  EXPECT_EQ(from_file->timeout, absl::Seconds(5));

  auto env = FakeEnv({{"HWNAS_SERVER", "env:2"}, {"HWNAS_TOKEN", "env-token"}});
  auto from_env = ResolveConnection(none, env, file);
  ASSERT_TRUE(from_env.ok());
  EXPECT_EQ(from_env->server, "env:2");
  EXPECT_EQ(from_env->server_source, "env");
  EXPECT_EQ(from_env->token, "env-token");
  EXPECT_EQ(from_env->token_source, "env");

  ConnectionFlags flags;
  flags.server = "flag:3";
  flags.token = "flag-token";
  flags.timeout = absl::Seconds(2);
  auto from_flags = ResolveConnection(flags, env, file);
  ASSERT_TRUE(from_flags.ok());
  EXPECT_EQ(from_flags->server, "flag:3");
  EXPECT_EQ(from_flags->server_source, "flag");
  EXPECT_EQ(from_flags->token, "flag-token");
  EXPECT_EQ(from_flags->timeout, absl::Seconds(2));
}

TEST(ResolveConnection, TlsPrecedence) {
  FileConfig file;
  file.tls_ca = "/file-ca.pem";
  ConnectionFlags flags;
  flags.tls_ca = "/flag-ca.pem";
  auto env = FakeEnv({{"HWNAS_TLS_CA", "/env-ca.pem"}});
  EXPECT_EQ(ResolveConnection(flags, env, file)->tls_ca, "/flag-ca.pem");
  EXPECT_EQ(ResolveConnection(ConnectionFlags(), env, file)->tls_ca, "/env-ca.pem");
  EXPECT_EQ(ResolveConnection(ConnectionFlags(), FakeEnv({}), file)->tls_ca, "/file-ca.pem");
  ConnectionFlags system_roots;
  system_roots.tls = true;
  auto r = ResolveConnection(system_roots, FakeEnv({}), std::nullopt);
  EXPECT_TRUE(r->tls);
  EXPECT_EQ(r->tls_ca, "");
}

TEST(ParseConfigFile, ReadsKeysAndResolvesRelativeCa) {
  auto c =
      ParseConfigFile("server: hwnas.lab:443\ntoken: abc\ntls: {ca: certs/ca.pem}\ntimeout: 1m\n",
                      "/home/u/.config/hwnas/config.yaml");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server, "hwnas.lab:443");
  EXPECT_EQ(c->token, "abc");
  EXPECT_TRUE(c->tls);
  EXPECT_EQ(c->tls_ca, "/home/u/.config/hwnas/certs/ca.pem");
  EXPECT_EQ(c->timeout, absl::Minutes(1));
  auto plain_tls = ParseConfigFile("tls: true\n", "c.yaml");
  ASSERT_TRUE(plain_tls.ok()) << plain_tls.status();
  EXPECT_TRUE(plain_tls->tls);
  EXPECT_FALSE(plain_tls->tls_ca.has_value());
}

TEST(ParseConfigFile, UnknownKeysAreNamed) {
  auto c = ParseConfigFile("server: a:1\ntokne: x\n", "/c.yaml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("tokne"), absl::string_view::npos) << c.status();
  EXPECT_EQ(ExitCodeFor(c.status()), kExitLocalIo);
  EXPECT_FALSE(ParseConfigFile("tls: {ca: x, bogus: 1}\n", "/c.yaml").ok());
  EXPECT_FALSE(ParseConfigFile("timeout: soon\n", "/c.yaml").ok());
}

TEST(DefaultConfigPath, XdgThenHome) {
  EXPECT_EQ(DefaultConfigPath(FakeEnv({{"HWNAS_CONFIG", "/x.yaml"}, {"HOME", "/h"}})), "/x.yaml");
  EXPECT_EQ(DefaultConfigPath(FakeEnv({{"XDG_CONFIG_HOME", "/xdg"}, {"HOME", "/h"}})),
            "/xdg/hwnas/config.yaml");
  EXPECT_EQ(DefaultConfigPath(FakeEnv({{"HOME", "/h"}})), "/h/.config/hwnas/config.yaml");
  EXPECT_EQ(DefaultConfigPath(FakeEnv({})), "");
}

TEST(ConnectionFromArgs, ReadsTheConfigFileFromXdg) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("hwnas_cli_cfg_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir / "hwnas");
  std::ofstream(dir / "hwnas" / "config.yaml") << "server: cfg:9\ntoken: cfg-token\n";
  auto parsed = ParseCommandArgs(Spec("ls"), GlobalFlags(), {"--token", "flag-token"});
  ASSERT_TRUE(parsed.ok());
  auto conn = ConnectionFromArgs(*parsed, FakeEnv({{"XDG_CONFIG_HOME", dir.string()}}));
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_EQ(conn->server, "cfg:9");
  EXPECT_EQ(conn->token, "flag-token");
  // An explicit --config that does not exist is an error, a missing default is not.
  auto missing = ParseCommandArgs(Spec("ls"), GlobalFlags(), {"--config", "/nonexistent.yaml"});
  EXPECT_EQ(ExitCodeFor(ConnectionFromArgs(*missing, FakeEnv({})).status()), kExitLocalIo);
  auto bad_timeout = ParseCommandArgs(Spec("ls"), GlobalFlags(), {"--timeout", "-1"});
  EXPECT_TRUE(IsUsageError(ConnectionFromArgs(*bad_timeout, FakeEnv({})).status()));
  std::filesystem::remove_all(dir);
}

TEST(ParseDurationFlag, SecondsAndUnits) {
  EXPECT_EQ(*ParseDurationFlag("30"), absl::Seconds(30));
  EXPECT_EQ(*ParseDurationFlag("1.5"), absl::Milliseconds(1500));
  EXPECT_EQ(*ParseDurationFlag("2m"), absl::Minutes(2));
  EXPECT_FALSE(ParseDurationFlag("0").ok());
  EXPECT_FALSE(ParseDurationFlag("later").ok());
}

TEST(ExitCodes, FromGrpcStatusCodes) {
  struct Case {
    grpc::StatusCode code;
    int exit_code;
  };
  const Case cases[] = {
      {grpc::StatusCode::INVALID_ARGUMENT, kExitInvalid},
      {grpc::StatusCode::NOT_FOUND, kExitInvalid},
      {grpc::StatusCode::ALREADY_EXISTS, kExitInvalid},
      {grpc::StatusCode::FAILED_PRECONDITION, kExitInvalid},
      {grpc::StatusCode::OUT_OF_RANGE, kExitInvalid},
      {grpc::StatusCode::UNAUTHENTICATED, kExitAuth},
      {grpc::StatusCode::PERMISSION_DENIED, kExitAuth},
      {grpc::StatusCode::UNAVAILABLE, kExitUnreachable},
      {grpc::StatusCode::DEADLINE_EXCEEDED, kExitUnreachable},
      {grpc::StatusCode::INTERNAL, kExitServerError},
      {grpc::StatusCode::UNKNOWN, kExitServerError},
      {grpc::StatusCode::RESOURCE_EXHAUSTED, kExitServerError},
      {grpc::StatusCode::ABORTED, kExitServerError},
      {grpc::StatusCode::UNIMPLEMENTED, kExitServerError},
      {grpc::StatusCode::CANCELLED, kExitInterrupted},
  };
  for (const Case& c : cases) {
    absl::Status s = FromGrpcStatus(grpc::Status(c.code, "detail"), "h:1", "GetSearch");
    EXPECT_EQ(static_cast<int>(s.code()), static_cast<int>(c.code));
    EXPECT_EQ(ExitCodeFor(s), c.exit_code) << s;
    EXPECT_NE(s.message().find("detail"), absl::string_view::npos) << s;
  }
  EXPECT_EQ(ExitCodeFor(FromGrpcStatus(grpc::Status::OK, "h:1", "X")), kExitOk);
  EXPECT_EQ(ExitCodeFor(UsageError("bad")), kExitUsage);
  EXPECT_EQ(ExitCodeFor(LocalIoError("cannot read")), kExitLocalIo);
}

TEST(ExitCodes, MessagesNameTheServerAndTheFix) {
  absl::Status unreachable =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection refused"),
                     "gpu-box:50051", "ListSearches");
  EXPECT_NE(unreachable.message().find("cannot reach the server at gpu-box:50051: connection "
                                       "refused"),
            absl::string_view::npos)
      << unreachable;
  absl::Status unauthenticated =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "bad token"), "h:1", "X");
  EXPECT_NE(unauthenticated.message().find("HWNAS_TOKEN"), absl::string_view::npos);
  absl::Status denied = FromGrpcStatus(
      grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "search 3 belongs to bob"), "h:1", "X");
  EXPECT_NE(denied.message().find("permission denied: search 3 belongs to bob"),
            absl::string_view::npos);
  absl::Status deadline =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "late"), "h:1", "GetTrial");
  EXPECT_NE(deadline.message().find("--timeout"), absl::string_view::npos);
}

TEST(RunCli, UsageErrorsExitOneWithoutConnecting) {
  std::ostringstream out, err;
  CliContext ctx = DefaultContext();
  ctx.out = &out;
  ctx.err = &err;
  ctx.env = FakeEnv({});
  int connects = 0;
  ctx.connect = [&](const ConnectionConfig&) -> absl::StatusOr<std::unique_ptr<Client>> {
    ++connects;
    return absl::UnavailableError("no server in this test");
  };
  EXPECT_EQ(RunCli({}, ctx), kExitUsage);
  EXPECT_EQ(RunCli({"frobnicate"}, ctx), kExitUsage);
  EXPECT_NE(err.str().find("unknown command 'frobnicate'"), std::string::npos);
  EXPECT_EQ(RunCli({"trial", "3"}, ctx), kExitUsage);
  EXPECT_EQ(RunCli({"--server", "h:1", "ls", "--bogus"}, ctx), kExitUsage);
  EXPECT_EQ(connects, 0);
  out.str("");
  EXPECT_EQ(RunCli({"help", "pareto"}, ctx), kExitOk);
  EXPECT_NE(out.str().find("Usage: hwnas pareto ID"), std::string::npos);
  EXPECT_EQ(RunCli({"--help"}, ctx), kExitOk);
  // A bad value is caught after connecting but before any call.
  ctx.connect = [&](const ConnectionConfig& c) -> absl::StatusOr<std::unique_ptr<Client>> {
    ++connects;
    EXPECT_EQ(c.server, "h:1");
    return Client::Connect(c);
  };
  EXPECT_EQ(RunCli({"--server", "h:1", "trials", "abc"}, ctx), kExitUsage);
  EXPECT_EQ(RunCli({"-s", "h:1", "ls", "-o", "yaml"}, ctx), kExitUsage);
  EXPECT_EQ(RunCli({"-s", "h:1", "trials", "3", "--sort", "speed"}, ctx), kExitUsage);
  EXPECT_EQ(connects, 3);
}

}  // namespace
}  // namespace hwnas::cli
