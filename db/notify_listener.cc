#include "db/notify_listener.h"

#include <pqxx/pqxx>

#include "common/log.h"
#include "spdlog/spdlog.h"

namespace hwnas::db {
namespace {

class Receiver : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& c, const std::string& channel, const std::function<void()>* f)
      : pqxx::notification_receiver(c, channel), f_(f) {}
  void operator()(const std::string&, int) override { (*f_)(); }

 private:
  const std::function<void()>* f_;
};

}  // namespace

NotifyListener::NotifyListener(std::string connection_string, std::string channel,
                               std::function<void()> on_event, absl::Duration reconnect_delay)
    : connection_string_(std::move(connection_string)),
      channel_(std::move(channel)),
      on_event_(std::move(on_event)),
      reconnect_delay_(reconnect_delay) {
  thread_ = std::thread([this] { Run(); });
}

NotifyListener::~NotifyListener() {
  stop_ = true;
  thread_.join();
}

void NotifyListener::Run() {
  std::string last_error;
  while (!stop_.load()) {
    try {
      pqxx::connection conn(connection_string_);
      Receiver receiver(conn, channel_, &on_event_);
      // LISTEN is issued once the receiver exists; anything before it was
      // missed.
      conn.get_notifs();
      listening_ = true;
      last_error.clear();
      on_event_();
      while (!stop_.load()) {
        conn.await_notification(0, 200000);
        // libpqxx reports a lost connection once; after that it only says
        // the connection is closed.
        if (!conn.is_open()) throw pqxx::broken_connection("connection closed");
      }
      listening_ = false;
      return;
    } catch (const std::exception& e) {
      listening_ = false;
      const std::string error = RedactSecrets(e.what());
      if (error != last_error) {
        spdlog::warn("event=notify_listener_down channel={} error=\"{}\"", channel_,
                     error.substr(0, error.find('\n')));
        last_error = error;
      }
    }
    const absl::Time until = absl::Now() + reconnect_delay_;
    while (!stop_.load() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(50));
  }
}

}  // namespace hwnas::db
