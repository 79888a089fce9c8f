// Listens on a PostgreSQL NOTIFY channel over a connection of its own, on a
// background thread, and reconnects when the connection is lost.
// Notifications sent while disconnected are lost, so `on_event` also runs
// after each (re)connection: the caller must treat that as "you may have
// missed some". Thread-safe; `on_event` runs on the listener's thread.
#ifndef HWNAS_DB_NOTIFY_LISTENER_H_
#define HWNAS_DB_NOTIFY_LISTENER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/time/time.h"

namespace hwnas::db {

class NotifyListener {
 public:
  NotifyListener(std::string connection_string, std::string channel, std::function<void()> on_event,
                 absl::Duration reconnect_delay = absl::Seconds(1));
  // Stops listening (within a fraction of a second).
  ~NotifyListener();
  NotifyListener(const NotifyListener&) = delete;
  NotifyListener& operator=(const NotifyListener&) = delete;

  // Whether a connection is listening now (for tests).
  bool listening() const { return listening_.load(); }

 private:
  void Run();

  const std::string connection_string_;
  const std::string channel_;
  const std::function<void()> on_event_;
  const absl::Duration reconnect_delay_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> listening_{false};
  std::thread thread_;
};

}  // namespace hwnas::db

#endif  // HWNAS_DB_NOTIFY_LISTENER_H_
