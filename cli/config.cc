#include "cli/config.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cli/errors.h"
#include "common/files.h"
#include "common/status_macros.h"
#include "common/yaml_fields.h"

namespace hwnas::cli {

EnvLookup ProcessEnv() {
  return [](absl::string_view name) -> std::optional<std::string> {
    const char* value = std::getenv(std::string(name).c_str());
    if (value == nullptr || *value == '\0') return std::nullopt;
    return std::string(value);
  };
}

absl::StatusOr<absl::Duration> ParseDurationFlag(absl::string_view text) {
  double seconds = 0;
  if (absl::SimpleAtod(text, &seconds)) {
    if (seconds <= 0) return UsageError(absl::StrCat("duration must be positive, got ", text));
    return absl::Seconds(seconds);
  }
  absl::Duration d;
  if (!absl::ParseDuration(text, &d) || d <= absl::ZeroDuration()) {
    return UsageError(absl::StrCat("bad duration '", text, "' (expected e.g. 30s, 2m, 1h)"));
  }
  return d;
}

absl::StatusOr<FileConfig> ParseConfigFile(absl::string_view text, absl::string_view path) {
  auto root = YamlSection::Parse(text);
  if (!root.ok()) {
    return LocalIoError(absl::StrCat("config file ", path, ": ", root.status().message()));
  }
  auto fail = [&](const absl::Status& s) {
    return LocalIoError(absl::StrCat("config file ", path, ": ", s.message()));
  };
  if (absl::Status s = root->CheckIsMap(); !s.ok()) return fail(s);
  if (absl::Status s = root->CheckKeys({"server", "token", "tls", "timeout"}); !s.ok()) {
    return fail(s);
  }
  FileConfig config;
  auto server = root->String("server", std::string());
  if (!server.ok()) return fail(server.status());
  if (!server->empty()) config.server = *server;
  auto token = root->String("token", std::string());
  if (!token.ok()) return fail(token.status());
  if (!token->empty()) config.token = *token;
  auto timeout = root->String("timeout", std::string());
  if (!timeout.ok()) return fail(timeout.status());
  if (!timeout->empty()) {
    auto d = ParseDurationFlag(*timeout);
    if (!d.ok())
      return fail(absl::InvalidArgumentError(absl::StrCat("timeout: ", d.status().message())));
    config.timeout = *d;
  }
  if (root->Has("tls")) {
    YAML::Node tls_node = root->node()["tls"];
    if (tls_node.IsScalar()) {
      auto enabled = root->Bool("tls", false);
      if (!enabled.ok()) return fail(enabled.status());
      config.tls = *enabled;
    } else {
      auto tls = root->Child("tls");
      if (!tls.ok()) return fail(tls.status());
      if (absl::Status s = tls->CheckKeys({"ca", "enabled"}); !s.ok()) return fail(s);
      auto ca = tls->String("ca", std::string());
      if (!ca.ok()) return fail(ca.status());
      auto enabled = tls->Bool("enabled", true);
      if (!enabled.ok()) return fail(enabled.status());
      config.tls = *enabled;
      if (!ca->empty()) {
        std::filesystem::path ca_path(*ca);
        if (ca_path.is_relative() && !path.empty()) {
          ca_path = std::filesystem::path(std::string(path)).parent_path() / ca_path;
        }
        config.tls_ca = ca_path.string();
      }
    }
  }
  return config;
}

std::string DefaultConfigPath(const EnvLookup& env) {
  if (auto explicit_path = env("HWNAS_CONFIG")) return *explicit_path;
  if (auto xdg = env("XDG_CONFIG_HOME")) return absl::StrCat(*xdg, "/hwnas/config.yaml");
  if (auto home = env("HOME")) return absl::StrCat(*home, "/.config/hwnas/config.yaml");
  return "";
}

absl::StatusOr<std::optional<FileConfig>> LoadConfigFile(const std::string& path) {
  if (path.empty()) return std::optional<FileConfig>();
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<FileConfig>();
  absl::StatusOr<std::string> text = ReadWholeFile(path);
  if (!text.ok()) return LocalIoError(absl::StrCat("config file: ", text.status().message()));
  HWNAS_ASSIGN_OR_RETURN(FileConfig config, ParseConfigFile(*text, path));
  return std::optional<FileConfig>(std::move(config));
}

absl::StatusOr<ConnectionConfig> ResolveConnection(const ConnectionFlags& flags,
                                                   const EnvLookup& env,
                                                   const std::optional<FileConfig>& file) {
  ConnectionConfig config;
  config.server = std::string(kDefaultServer);
  config.server_source = "default";
  config.token_source = "default";
  if (flags.server) {
    config.server = *flags.server;
    config.server_source = "flag";
  } else if (auto s = env("HWNAS_SERVER")) {
    config.server = *s;
    config.server_source = "env";
  } else if (file && file->server) {
    config.server = *file->server;
    config.server_source = "config";
  }
  if (flags.token) {
    config.token = *flags.token;
    config.token_source = "flag";
  } else if (auto t = env("HWNAS_TOKEN")) {
    config.token = *t;
    config.token_source = "env";
  } else if (file && file->token) {
    config.token = *file->token;
    config.token_source = "config";
  }
  if (flags.tls_ca) {
    config.tls = true;
    config.tls_ca = *flags.tls_ca;
  } else if (flags.tls) {
    config.tls = true;
  } else if (auto ca = env("HWNAS_TLS_CA")) {
    config.tls = true;
    config.tls_ca = *ca;
  } else if (file) {
    config.tls = file->tls || file->tls_ca.has_value();
    if (file->tls_ca) config.tls_ca = *file->tls_ca;
  }
  if (flags.timeout) {
    config.timeout = *flags.timeout;
  } else if (file && file->timeout) {
    config.timeout = *file->timeout;
  }
  if (config.server.empty()) return UsageError("the server address is empty");
  return config;
}

}  // namespace hwnas::cli
