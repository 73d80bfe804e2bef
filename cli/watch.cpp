// `agency watch`: every message on the given subjects, one line each, decoded.
//
// Threads: nats.c delivers on its own threads; the callbacks only queue the
// message and wake the main thread, which formats and prints, so lines never
// interleave and a slow terminal never stalls the library. SIGINT/SIGTERM are
// blocked before the connection starts its threads and read through a
// signalfd, so Ctrl-C is just one more event of the main loop.
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bus/codec.hpp"
#include "bus/signals.hpp"
#include "bus/subjects.hpp"
#include "bus/text.hpp"
#include "cli/cli.hpp"
#include "cli/describe.hpp"

namespace agency::cli {

namespace {

using Clock = std::chrono::system_clock;
using Json = nlohmann::ordered_json;

struct WatchOptions {
  std::vector<std::string> subjects;
  int count = 0;       // 0: no limit
  double timeout = 0;  // seconds; 0: no limit
};

struct Received {
  Clock::time_point at;
  Incoming message;
};

// Shared by the nats.c callbacks and the main thread; kept alive by the
// callbacks until the library lets go of them.
class Inbox {
 public:
  Inbox() : wake_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {}
  ~Inbox() {
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;

  [[nodiscard]] int fd() const { return wake_fd_; }

  void push(Incoming message) {
    {
      std::lock_guard lock(mutex_);
      items_.push_back(Received{Clock::now(), std::move(message)});
    }
    const std::uint64_t one = 1;
    // A full counter only means the main thread is already due to wake.
    (void)!::write(wake_fd_, &one, sizeof one);
  }

  std::deque<Received> take() {
    std::uint64_t ignored = 0;
    (void)!::read(wake_fd_, &ignored, sizeof ignored);
    std::lock_guard lock(mutex_);
    return std::exchange(items_, {});
  }

 private:
  int wake_fd_;
  std::mutex mutex_;
  std::deque<Received> items_;
};

std::string clock_time(Clock::time_point at) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch());
  const auto secs = static_cast<std::time_t>(ms.count() / 1000);
  std::tm local{};
  localtime_r(&secs, &local);
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%H:%M:%S", &local);
  std::array<char, 48> out{};
  std::snprintf(out.data(), out.size(), "%s.%03lld", buf.data(),
                static_cast<long long>(ms.count() % 1000));
  return out.data();
}

std::string rfc3339(Clock::time_point at) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(at.time_since_epoch());
  const std::time_t secs = static_cast<std::time_t>(us.count() / 1'000'000);
  std::tm utc{};
  gmtime_r(&secs, &utc);
  std::array<char, 32> buf{};
  std::strftime(buf.data(), buf.size(), "%Y-%m-%dT%H:%M:%S", &utc);
  std::array<char, 48> out{};
  std::snprintf(out.data(), out.size(), "%s.%06lldZ", buf.data(),
                static_cast<long long>(us.count() % 1'000'000));
  return out.data();
}

std::string base64(std::string_view bytes) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t n =
        (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16) |
        (static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8) |
        static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 2]));
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i])) << 16;
    if (rest == 2) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[i + 1])) << 8;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += rest == 2 ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Json headers_json(const Headers& headers) {
  // One string per key; a key that repeats becomes an array of its values.
  Json out = Json::object();
  for (const auto& [key, value] : headers) {
    auto it = out.find(key);
    if (it == out.end()) {
      out[key] = value;
    } else if (it->is_array()) {
      it->push_back(value);
    } else {
      *it = Json::array({*it, value});
    }
  }
  return out;
}

std::string json_line(const Received& r) {
  const Headers headers = r.message.headers();
  const std::string_view payload = r.message.data();
  const Decoded d = decode_any(r.message.subject(), headers, payload);
  Json out = Json::object();
  out["time"] = rfc3339(r.at);
  out["subject"] = r.message.subject();
  out["headers"] = headers_json(headers);
  out["type"] = d.type.empty() ? Json(nullptr) : Json(d.type);
  out["message"] = nullptr;
  if (d.message != nullptr) {
    const std::string text = codec::to_json(*d.message);
    Json parsed = Json::parse(text, nullptr, false);
    out["message"] = parsed.is_discarded() ? Json(text) : std::move(parsed);
  }
  out["error"] = d.error.empty() ? Json(nullptr) : Json(d.error);
  out["kv_operation"] = d.kv_operation.empty() ? Json(nullptr) : Json(d.kv_operation);
  out["payload"] = nullptr;
  out["payload_encoding"] = nullptr;
  if (d.message == nullptr) {
    if (is_utf8(payload)) {
      out["payload"] = payload;
      out["payload_encoding"] = "utf-8";
    } else {
      out["payload"] = base64(payload);
      out["payload_encoding"] = "base64";
    }
  }
  return text::terminal_safe_json(out.dump(-1, ' ', false, Json::error_handler_t::replace));
}

std::string text_line(const Received& r) {
  // A subject may hold any byte but space: it is outside text too.
  return clock_time(r.at) + " " + text::terminal_safe(r.message.subject(), text::Layout::one_line) +
         " " + describe(r.message.subject(), r.message.headers(), r.message.data());
}

void print_line(const std::string& line) {
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += ", ";
    out += s;
  }
  return out;
}

// Returns the exit code.
int run_watch(const GlobalOptions& global, WatchOptions opts) {
  if (opts.subjects.empty()) {
    opts.subjects = {std::string(subjects::kAll),
                     "$KV." + std::string(subjects::kTasksBucket) + ".>",
                     "$KV." + std::string(subjects::kFleetBucket) + ".>"};
  }
  const bool as_json = global.json;

  // Before connecting: the library's threads inherit the blocked signals.
  SignalFd signals({SIGINT, SIGTERM});
  if (signals.fd() < 0) {
    report(make_error(errc::internal, "cannot watch for Ctrl-C (signalfd failed)"));
    return kExitFailed;
  }
  auto inbox = std::make_shared<Inbox>();
  if (inbox->fd() < 0) {
    report(make_error(errc::internal, "cannot create a wake-up descriptor (eventfd failed)"));
    return kExitFailed;
  }

  auto connection = connect_cli(global, "agency-watch", /*ordered=*/true);
  if (!connection) {
    report(connection.error());
    return exit_code_for(connection.error());
  }
  std::vector<Subscription> subs;
  for (const auto& subject : opts.subjects) {
    auto sub =
        (*connection)->subscribe(subject, {}, [inbox](Incoming m) { inbox->push(std::move(m)); });
    if (!sub) {
      report(sub.error());
      return exit_code_for(sub.error());
    }
    subs.push_back(std::move(*sub));
  }
  // Once the server has the subscriptions, nothing published after the banner
  // is missed: scripts wait for it before they publish.
  if (auto flushed = (*connection)->flush(std::chrono::seconds(5)); !flushed) {
    report(flushed.error());
    return exit_code_for(flushed.error());
  }
  std::fprintf(stderr, "watching %s on %s (Ctrl-C to stop)\n", join(opts.subjects).c_str(),
               (*connection)->connected_url().c_str());
  std::fflush(stderr);

  const auto start = std::chrono::steady_clock::now();
  const std::optional<std::chrono::steady_clock::time_point> deadline =
      opts.timeout > 0
          ? std::optional(start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                      std::chrono::duration<double>(opts.timeout)))
          : std::nullopt;
  int printed = 0;
  for (;;) {
    for (const auto& r : inbox->take()) {
      print_line(as_json ? json_line(r) : text_line(r));
      if (opts.count > 0 && ++printed >= opts.count) return 0;
    }
    int wait_ms = -1;
    if (deadline) {
      const auto left = *deadline - std::chrono::steady_clock::now();
      if (left <= std::chrono::steady_clock::duration::zero()) return 0;
      // Round up so we do not spin on the last sub-millisecond.
      wait_ms = static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
    }
    std::array<pollfd, 2> fds{{{signals.fd(), POLLIN, 0}, {inbox->fd(), POLLIN, 0}}};
    const int n = ::poll(fds.data(), fds.size(), wait_ms);
    if (n < 0 && errno != EINTR) {
      report(make_error(errc::io, "waiting for messages failed (poll)"));
      return kExitFailed;
    }
    if (n > 0 && (fds[0].revents & POLLIN) != 0) {
      (void)signals.take();
      return 0;  // Ctrl-C is how a watch ends
    }
  }
}

}  // namespace

void add_watch_command(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<WatchOptions>();
  CLI::App* cmd = app.add_subcommand(
      "watch", "Print every message on the bus as it passes, one decoded line each");
  cmd->add_option("subjects", opts->subjects,
                  "Subjects to watch, NATS wildcards allowed (default: agency.>, "
                  "$KV.agency-tasks.>, $KV.agency-fleet.>)");
  cmd->add_flag("--json", global.json,
                "One JSON object per line: time, subject, headers, type, message, error, "
                "payload");
  cmd->add_option("--count", opts->count, "Exit after this many messages")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--timeout", opts->timeout, "Exit after this many seconds")
      ->check(CLI::PositiveNumber);
  cmd->callback([&global, opts]() {
    const int code = run_watch(global, *opts);
    if (code != 0) throw CLI::RuntimeError(code);
  });
}

}  // namespace agency::cli
