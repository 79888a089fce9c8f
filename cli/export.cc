#include "cli/export.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/errors.h"
#include "cli/format.h"
#include "cli/local.h"
#include "cli/spec_info.h"
#include "common/status_macros.h"
#include "common/subprocess.h"
#include "nlohmann/json.hpp"

namespace hwnas::cli {
namespace {

namespace fs = std::filesystem;

// Runs hwnas-worker export, echoing its log (progress) to ctx.err.
absl::StatusOr<int> TrainAndSave(const std::vector<std::string>& argv, const std::string& log,
                                 CliContext& ctx) {
  HWNAS_ASSIGN_OR_RETURN(ChildProcess child, ChildProcess::Start({.argv = argv, .log_path = log}));
  std::streamoff shown = 0;
  auto echo = [&] {
    std::ifstream f(log, std::ios::binary);
    f.seekg(shown);
    std::stringstream rest;
    rest << f.rdbuf();
    const std::string text = rest.str();
    shown += static_cast<std::streamoff>(text.size());
    *ctx.err << text << std::flush;
  };
  for (;;) {
    std::optional<int> code = child.Wait(absl::Milliseconds(200));
    echo();
    if (code) return *code;
    if (ctx.interrupted != nullptr && ctx.interrupted->load()) {
      child.Stop(absl::Seconds(5));
      return kExitInterrupted;
    }
  }
}

}  // namespace

CommandSpec ExportCommandSpec() {
  return {"export",
          "Export a trial: architecture, metrics, spec; optionally a trained model.",
          {"ID"},
          {{"trial", 't', "N", "the trial number (see 'hwnas trials ID --sort reward')"},
           {"out", 0, "DIR", "the directory to write (created; default export-ID-N)"},
           {"train-epochs", 'e', "E",
            "train the architecture for E epochs on the full data set and save\n"
            "                               a TorchScript module (runs hwnas-worker export)"},
           {"format", 0, "F",
            "with --train-epochs: torchscript (default: DIR/model.pt) or c (an int8\n"
            "                               C99 project for a Cortex-M in DIR/c, docs/mcu.md)"},
           {"target", 0, "CPU", "--format c: cortex-m7 (default) or cortex-m4"},
           {"measure", 0, "",
            "--format c: run the firmware in qemu-system-arm; flash, SRAM and\n"
            "                               instructions go to DIR/model.json"},
           {"spec-data", 0, "", "train on the spec's data subsets instead of the full set"},
           {"threads", 0, "N", "LibTorch threads for training (default: the spec's)"},
           {"data-dir", 0, "DIR",
            "shared data directory for training (default $HWNAS_SHARED_DATA, else\n"
            "                               ../shared/data)"}},
          "Writes DIR/architecture.json (space, version, tokens, readable form),\n"
          "DIR/architecture.txt, DIR/metrics.json (the trial as 'hwnas trial -o json'),\n"
          "DIR/trial.txt and DIR/spec.yaml. With --train-epochs: DIR/model.pt, a\n"
          "TorchScript module (torch.jit.load in Python, torch::jit::load in C++) that\n"
          "maps {N, ...input shape} floats to {N, classes} logits, DIR/model.json\n"
          "(accuracy after full training) and DIR/train.log. With --format c: DIR/c, an\n"
          "int8 C99 project (model_infer, kernels, Makefile for the host cc and\n"
          "arm-none-eabi-gcc), and the int8 accuracy in DIR/model.json. Training needs LibTorch,\n"
          "so it runs in hwnas-worker ($HWNAS_WORKER_BIN, else next to hwnas, else on PATH).",
          "  hwnas export 12 --trial 57 --out best\n"
          "  hwnas export 12 -t 57 --out best --train-epochs 20\n"
          "  hwnas export 12 -t 57 --out best --train-epochs 20 --format c --target cortex-m4\n"
          "  python3 -c \"import torch; m = torch.jit.load('best/model.pt'); "
          "print(m(torch.zeros(1, 1, 28, 28)))\"\n"};
}

absl::StatusOr<int> RunExportCommand(const ParsedArgs& args, CliContext& ctx, Client& client) {
  HWNAS_ASSIGN_OR_RETURN(int64_t id, ParsePositiveInt(args.positionals.at(0), "search ID"));
  std::optional<std::string> trial_flag = args.Get("trial");
  if (!trial_flag) return UsageError("export needs the trial: --trial N");
  HWNAS_ASSIGN_OR_RETURN(int64_t number, ParsePositiveInt(*trial_flag, "--trial"));
  std::optional<int64_t> epochs;
  if (auto e = args.Get("train-epochs")) {
    HWNAS_ASSIGN_OR_RETURN(epochs, ParsePositiveInt(*e, "--train-epochs"));
  }
  std::optional<int64_t> threads;
  if (auto t = args.Get("threads")) {
    HWNAS_ASSIGN_OR_RETURN(threads, ParsePositiveInt(*t, "--threads"));
  }
  const std::string dir = args.Get("out").value_or(absl::StrCat("export-", id, "-", number));
  const std::string format = args.Get("format").value_or("torchscript");
  const std::string target = args.Get("target").value_or("cortex-m7");
  if (format != "torchscript" && format != "c") {
    return UsageError(absl::StrCat("--format: '", format, "' (expected torchscript or c)"));
  }
  if (target != "cortex-m7" && target != "cortex-m4") {
    return UsageError(absl::StrCat("--target: '", target, "' (expected cortex-m7 or cortex-m4)"));
  }
  if (format == "c" && !epochs) {
    return UsageError("--format c needs a trained network: add --train-epochs E");
  }

  absl::StatusOr<SearchRecord> search = client.GetSearch(id);
  if (!search.ok()) return InSearch(search.status(), id);
  if (epochs && ReadSpecInfo(search->spec_yaml).table_evaluator) {
    return UsageError(absl::StrCat(
        "--train-epochs: search ", id,
        " was answered from the NAS-Bench-201 table (evaluator: table); its spec has no data "
        "to train a model on. Export without --train-epochs, or train the architecture with a "
        "spec that has a data: section (hwnas-worker export --spec ... --arch ...)"));
  }
  absl::StatusOr<TrialRecord> trial = client.GetTrial(id, number);
  if (!trial.ok()) return InTrial(trial.status(), id, number);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return LocalIoError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  const Architecture& arch = trial->architecture;
  nlohmann::json arch_json = {{"search_id", id},       {"trial", number},
                              {"space", arch.space},   {"space_version", arch.space_version},
                              {"tokens", arch.tokens}, {"readable", arch.readable}};
  const std::string spec_path = absl::StrCat(dir, "/spec.yaml");
  HWNAS_RETURN_IF_ERROR(ctx.write_file(spec_path, search->spec_yaml));
  HWNAS_RETURN_IF_ERROR(
      ctx.write_file(absl::StrCat(dir, "/architecture.json"), arch_json.dump(2) + "\n"));
  HWNAS_RETURN_IF_ERROR(ctx.write_file(
      absl::StrCat(dir, "/architecture.txt"),
      absl::StrCat(arch.readable, "\n\nspace: ", arch.space, " v", arch.space_version,
                   "\ntokens: ", absl::StrJoin(arch.tokens, ","), "\n")));
  HWNAS_RETURN_IF_ERROR(
      ctx.write_file(absl::StrCat(dir, "/metrics.json"), TrialToJson(*trial).dump(2) + "\n"));
  HWNAS_RETURN_IF_ERROR(ctx.write_file(absl::StrCat(dir, "/trial.txt"),
                                       FormatTrialDetail(*trial, OutputFormat::kTable)));
  *ctx.err << "wrote " << dir
           << "/{architecture.json,architecture.txt,metrics.json,trial.txt,spec.yaml}\n";
  if (!epochs) {
    *ctx.out << dir << "\n";
    return kExitOk;
  }
  HWNAS_ASSIGN_OR_RETURN(std::string worker, FindHwnasProgram("hwnas-worker", ctx.env));
  const std::string model = absl::StrCat(dir, format == "c" ? "/c" : "/model.pt");
  std::vector<std::string> argv = {worker,      "export",
                                   "--spec",    spec_path,
                                   "--arch",    absl::StrJoin(arch.tokens, ","),
                                   "--out",     model,
                                   "--epochs",  absl::StrCat(*epochs),
                                   "--summary", absl::StrCat(dir, "/model.json")};
  if (args.Has("spec-data")) argv.push_back("--spec-data");
  if (format == "c") {
    argv.insert(argv.end(), {"--format", "c", "--target", target});
    if (args.Has("measure")) argv.push_back("--measure");
  }
  if (threads) argv.insert(argv.end(), {"--threads", absl::StrCat(*threads)});
  std::optional<std::string> data_dir = args.Get("data-dir");
  if (!data_dir) data_dir = FindSharedDataDir(ctx.env);
  if (data_dir) argv.insert(argv.end(), {"--data-dir", *data_dir});
  HWNAS_ASSIGN_OR_RETURN(int code, TrainAndSave(argv, absl::StrCat(dir, "/train.log"), ctx));
  if (code == kExitInterrupted) return code;
  if (code != 0) {
    return absl::InternalError(
        absl::StrCat("hwnas-worker export failed (exit code ", code, "); see ", dir, "/train.log"));
  }
  *ctx.out << model << "\n";
  return kExitOk;
}

}  // namespace hwnas::cli
