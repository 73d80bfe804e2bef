#include "runtime/logging.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>
#include <deque>
#include <mutex>

#include "runtime/log_tail.hpp"

namespace agency {

namespace {

// Keeps the last kKeptLines formatted lines of every logger, numbered.
class TailSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  LogTail tail(std::uint64_t after, std::size_t most) {
    std::lock_guard lock(mutex_);
    LogTail out;
    out.last = next_ - 1;
    const std::uint64_t first = next_ - lines_.size();  // the number of lines_.front()
    std::size_t from = after < first ? 0 : static_cast<std::size_t>(after - first + 1);
    if (from > lines_.size()) from = lines_.size();
    if (lines_.size() - from > most) from = lines_.size() - most;
    out.lines.assign(lines_.begin() + static_cast<std::ptrdiff_t>(from), lines_.end());
    return out;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    std::string line(formatted.data(), formatted.size());
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    lines_.push_back(std::move(line));
    ++next_;
    if (lines_.size() > kKeptLines) lines_.pop_front();
  }
  void flush_() override {}

 private:
  std::deque<std::string> lines_;
  std::uint64_t next_ = 1;  // the number the next line gets
};

const std::shared_ptr<TailSink>& tail_sink() {
  static const auto sink = std::make_shared<TailSink>();
  return sink;
}

}  // namespace

std::shared_ptr<spdlog::logger> make_logger(const std::string& name) {
  if (auto existing = spdlog::get(name)) return existing;
  auto logger = spdlog::stderr_color_mt(name);
  logger->sinks().push_back(tail_sink());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
  if (const char* level = std::getenv("AGENCY_LOG_LEVEL"); level != nullptr && *level != '\0') {
    logger->set_level(spdlog::level::from_str(level));
  }
  return logger;
}

LogTail log_tail(std::uint64_t after, std::size_t most) { return tail_sink()->tail(after, most); }

}  // namespace agency
