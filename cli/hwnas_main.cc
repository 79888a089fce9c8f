// `hwnas`: the client CLI. All logic lives in hwnas_cli (cli/app.h).
#include <sys/ioctl.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <string>
#include <vector>

#include "cli/app.h"

namespace {

std::atomic<bool> g_interrupted{false};

void OnInterrupt(int) { g_interrupted.store(true); }

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  hwnas::cli::CliContext ctx = hwnas::cli::DefaultContext();
  ctx.stdout_is_tty = isatty(STDOUT_FILENO) == 1;
  if (ctx.stdout_is_tty) {
    winsize ws{};
    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) ctx.terminal_width = ws.ws_col;
  }
  ctx.interrupted = &g_interrupted;
  // Ctrl-C, SIGTERM, SIGHUP (the terminal closed) and SIGPIPE (the reader
  // of `hwnas local ... | head` went away) stop a watch, an export's
  // training, or `hwnas local` (which then shuts its children down in order
  // instead of leaving PostgreSQL and workers behind).
  std::signal(SIGINT, OnInterrupt);
  std::signal(SIGTERM, OnInterrupt);
  std::signal(SIGHUP, OnInterrupt);
  std::signal(SIGPIPE, OnInterrupt);
  return hwnas::cli::RunCli(args, ctx);
}
