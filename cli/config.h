// Where the CLI connects and who it is: flags first, then the environment
// (HWNAS_SERVER, HWNAS_TOKEN, HWNAS_TLS_CA), then the config file
// ($HWNAS_CONFIG, else $XDG_CONFIG_HOME/hwnas/config.yaml, else
// ~/.config/hwnas/config.yaml), then defaults. Pure functions: the
// environment and the file are passed in, so precedence is unit-testable.
#ifndef HWNAS_CLI_CONFIG_H_
#define HWNAS_CLI_CONFIG_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace hwnas::cli {

inline constexpr absl::string_view kDefaultServer = "127.0.0.1:7470";

// Reads one environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(absl::string_view name)>;
// The process environment (getenv); empty values count as unset.
EnvLookup ProcessEnv();

// Connection settings given on the command line (unset: not given).
struct ConnectionFlags {
  std::optional<std::string> server;
  std::optional<std::string> token;
  std::optional<std::string> tls_ca;  // Implies TLS.
  bool tls = false;                   // TLS with the system's root certificates.
  std::optional<std::string> config_path;
  std::optional<absl::Duration> timeout;
};

// The config file, e.g.
//   server: hwnas.lab.example.org:443
//   token: 0123abcd...
//   tls: {ca: /etc/hwnas/ca.pem}     # or `tls: {enabled: true}` for system roots
//   timeout: 30s                       # per-call deadline
struct FileConfig {
  std::optional<std::string> server;
  std::optional<std::string> token;
  bool tls = false;
  std::optional<std::string> tls_ca;  // Relative paths are relative to the file.
  std::optional<absl::Duration> timeout;
};

// Parses config file text; `path` is used for messages and to resolve a
// relative CA path. Unknown keys are errors that name the key.
absl::StatusOr<FileConfig> ParseConfigFile(absl::string_view text, absl::string_view path);

// The config file path: $HWNAS_CONFIG, else $XDG_CONFIG_HOME/hwnas/config.yaml,
// else $HOME/.config/hwnas/config.yaml; "" when none can be formed.
std::string DefaultConfigPath(const EnvLookup& env);

// Reads and parses a config file; nullopt when it does not exist (a file that
// exists but cannot be read or parsed is an error).
absl::StatusOr<std::optional<FileConfig>> LoadConfigFile(const std::string& path);

struct ConnectionConfig {
  std::string server;
  std::string token;  // Empty: no authorization metadata is sent.
  bool tls = false;
  std::string tls_ca;  // PEM file; empty with tls: system roots.
  absl::Duration timeout = absl::Seconds(30);
  // Where each setting came from: "flag", "env", "config" or "default".
  std::string server_source;
  std::string token_source;
};

// Applies the precedence flags > env > file > defaults.
absl::StatusOr<ConnectionConfig> ResolveConnection(const ConnectionFlags& flags,
                                                   const EnvLookup& env,
                                                   const std::optional<FileConfig>& file);

// Parses durations such as "30s", "2m", "1h30m" or a plain number of seconds.
absl::StatusOr<absl::Duration> ParseDurationFlag(absl::string_view text);

}  // namespace hwnas::cli

#endif  // HWNAS_CLI_CONFIG_H_
