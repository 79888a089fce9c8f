#include "common/flags.h"

#include <algorithm>
#include <cmath>
#include <ostream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace hwnas {
namespace {

const FlagSpec* Find(const std::vector<FlagSpec>& flags, const std::vector<FlagSpec>& globals,
                     absl::string_view name, char short_name) {
  for (const std::vector<FlagSpec>* list : {&flags, &globals}) {
    for (const FlagSpec& f : *list) {
      if (short_name != 0 ? f.short_name == short_name : f.name == name) return &f;
    }
  }
  return nullptr;
}

}  // namespace

bool ParsedFlags::Has(absl::string_view name) const {
  return bools.count(std::string(name)) > 0 || values.count(std::string(name)) > 0;
}

std::optional<std::string> ParsedFlags::Get(absl::string_view name) const {
  auto it = values.find(std::string(name));
  if (it == values.end()) return std::nullopt;
  return it->second;
}

std::string ParsedFlags::GetOr(absl::string_view name, absl::string_view fallback) const {
  std::optional<std::string> v = Get(name);
  return v ? *v : std::string(fallback);
}

absl::StatusOr<std::optional<int64_t>> ParsedFlags::Int(absl::string_view name, int64_t min) const {
  std::optional<std::string> text = Get(name);
  if (!text) return std::optional<int64_t>();
  int64_t v = 0;
  if (!absl::SimpleAtoi(*text, &v) || v < min) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be an integer >= ", min, ", got '", *text, "'"));
  }
  return std::optional<int64_t>(v);
}

absl::StatusOr<std::optional<double>> ParsedFlags::Double(absl::string_view name) const {
  std::optional<std::string> text = Get(name);
  if (!text) return std::optional<double>();
  double v = 0;
  if (!absl::SimpleAtod(*text, &v) || !std::isfinite(v)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--", name, " must be a number, got '", *text, "'"));
  }
  return std::optional<double>(v);
}

absl::Status ParsedFlags::Require(std::initializer_list<absl::string_view> names) const {
  for (absl::string_view name : names) {
    if (GetOr(name, "").empty())
      return absl::InvalidArgumentError(absl::StrCat("--", name, " is required"));
  }
  return absl::OkStatus();
}

absl::StatusOr<ParsedFlags> ParseFlags(const std::vector<FlagSpec>& flags,
                                       const std::vector<FlagSpec>& globals,
                                       const std::vector<std::string>& args,
                                       absl::string_view context) {
  ParsedFlags parsed;
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_done || arg == "-" || arg.empty() || arg[0] != '-') {
      parsed.positionals.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      parsed.help = true;
      continue;
    }
    if (double number; absl::SimpleAtod(arg, &number)) {  // -5, -0.5: positionals.
      parsed.positionals.push_back(arg);
      continue;
    }
    const FlagSpec* spec = nullptr;
    std::optional<std::string> inline_value;
    std::string shown = arg;
    if (absl::StartsWith(arg, "--")) {
      std::string name = arg.substr(2);
      if (size_t eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name = name.substr(0, eq);
        shown = absl::StrCat("--", name);
      }
      spec = Find(flags, globals, name, 0);
    } else if (arg.size() == 2) {
      spec = Find(flags, globals, "", arg[1]);
    } else {
      // "-ojson" is -o json.
      spec = Find(flags, globals, "", arg[1]);
      if (spec != nullptr && !spec->value_name.empty()) {
        inline_value = arg.substr(2);
      } else {
        spec = nullptr;
      }
    }
    if (spec == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag ", shown, " for '", context, "'"));
    }
    if (spec->value_name.empty()) {
      if (inline_value && *inline_value != "true" && *inline_value != "false") {
        return absl::InvalidArgumentError(
            absl::StrCat("--", spec->name, " takes no value, got '", *inline_value, "'"));
      }
      if (!inline_value || *inline_value == "true") {
        parsed.bools.insert(spec->name);
      } else {
        parsed.bools.erase(spec->name);
      }
      continue;
    }
    if (!inline_value) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat(shown, " needs a value (", spec->value_name, ")"));
      }
      inline_value = args[++i];
    }
    parsed.values[spec->name] = *inline_value;
    parsed.repeated[spec->name].push_back(*inline_value);
  }
  return parsed;
}

std::string FlagHelpLine(const FlagSpec& flag) {
  std::string left = flag.short_name
                         ? absl::StrCat("-", std::string(1, flag.short_name), ", --", flag.name)
                         : absl::StrCat("    --", flag.name);
  if (!flag.value_name.empty()) absl::StrAppend(&left, " ", flag.value_name);
  return absl::StrFormat("  %-28s %s\n", left, flag.help);
}

std::string MainFlagsHelp(const MainFlagsSpec& spec) {
  std::string help = spec.usage;
  for (const FlagSpec& flag : spec.flags) help += FlagHelpLine(flag);
  help += FlagHelpLine({"help", 'h', "", "print this help"});
  return help;
}

std::optional<ParsedFlags> ParseMainFlags(const MainFlagsSpec& spec, int argc, char** argv,
                                          std::ostream& out, std::ostream& err, int* exit_code) {
  absl::StatusOr<ParsedFlags> parsed =
      ParseFlags(spec.flags, {}, std::vector<std::string>(argv + 1, argv + argc), spec.program);
  if (parsed.ok() && parsed->help) {
    out << MainFlagsHelp(spec);
    *exit_code = 0;
    return std::nullopt;
  }
  if (parsed.ok() && parsed->positionals.size() > spec.max_positionals) {
    parsed = absl::InvalidArgumentError(
        absl::StrCat("unexpected argument '", parsed->positionals[spec.max_positionals], "'"));
  }
  if (!parsed.ok()) {
    err << spec.program << ": " << parsed.status().message() << "\n(" << spec.program
        << " --help lists the flags)\n";
    *exit_code = 2;
    return std::nullopt;
  }
  return *std::move(parsed);
}

absl::Status CheckHostPort(absl::string_view address, int min_port, absl::string_view what) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": '", address, "' is not HOST:PORT (", why, ")"));
  };
  if (absl::StartsWith(address, "dns:")) {
    // dns:[//AUTHORITY/]HOST[:PORT]: the target after the last slash.
    const absl::string_view target = address.substr(address.rfind('/') + 1);
    if (target.empty() || target.find(':') == absl::string_view::npos) return absl::OkStatus();
    return CheckHostPort(target, min_port, what);
  }
  for (absl::string_view scheme : {"unix:", "unix-abstract:", "ipv4:", "ipv6:", "vsock:"}) {
    if (absl::StartsWith(address, scheme)) return absl::OkStatus();
  }
  const size_t colon = address.rfind(':');
  if (colon == absl::string_view::npos) return bad("no port");
  const absl::string_view host = address.substr(0, colon);
  if (host.empty()) return bad("no host");
  if (host.find(':') != absl::string_view::npos && !(host.front() == '[' && host.back() == ']')) {
    return bad("an IPv6 host goes in brackets: [::1]:7470");
  }
  const absl::string_view port_text = address.substr(colon + 1);
  int port = -1;
  if (port_text.empty() || !std::all_of(port_text.begin(), port_text.end(), absl::ascii_isdigit) ||
      !absl::SimpleAtoi(port_text, &port) || port < min_port || port > 65535) {
    return bad(absl::StrCat("the port must be a number from ", min_port, " to 65535"));
  }
  return absl::OkStatus();
}

absl::Status CheckToken(absl::string_view token, absl::string_view what) {
  for (size_t i = 0; i < token.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(token[i]);
    if (c < 0x21 || c > 0x7E) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": the token has ",
                       c == '\n'               ? std::string("a line break")
                       : c == ' ' || c == '\t' ? std::string("a space")
                                               : absl::StrFormat("the byte 0x%02x", c),
                       " at character ", i + 1, "; tokens are printable ASCII (hwn_...)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace hwnas
