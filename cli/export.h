// `hwnas export ID --trial N --out DIR`: one trial's architecture (JSON and
// readable form), metrics and the search's spec as files; with
// --train-epochs E, `hwnas-worker export` trains it fully and saves a
// TorchScript module (the CLI itself never links LibTorch).
#ifndef HWNAS_CLI_EXPORT_H_
#define HWNAS_CLI_EXPORT_H_

#include "absl/status/statusor.h"
#include "cli/app.h"
#include "cli/args.h"
#include "cli/client.h"

namespace hwnas::cli {

CommandSpec ExportCommandSpec();
absl::StatusOr<int> RunExportCommand(const ParsedArgs& args, CliContext& ctx, Client& client);

}  // namespace hwnas::cli

#endif  // HWNAS_CLI_EXPORT_H_
