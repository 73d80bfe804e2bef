#include "runtime/up_process.hpp"

#include <unistd.h>

#include "bus/connect.hpp"
#include "runtime/credentials.hpp"
#include "runtime/process.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX, for the child's

namespace agency {

namespace fs = std::filesystem;

namespace {

// Variables of ours the child `agency up` must not see: they would point it
// (and its agents) at another server or key than its own.
constexpr std::string_view kDropped[] = {
    "NATS_URL=", "NATS_CONTEXT=",  "NATS_NKEY=",       "NATS_CREDS=",
    "NATS_CA=",  "AGENCY_CONFIG=", "AGENCY_AGENT_ID=", "AGENCY_NATS_URL="};

}  // namespace

UpProcess::UpProcess(fs::path dir, fs::path config, std::vector<std::string> extra_args)
    : dir_(std::move(dir)), config_(std::move(config)), extra_args_(std::move(extra_args)) {}

Result<void> UpProcess::start(std::chrono::seconds limit) {
  stop();
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return make_error(errc::internal, "cannot find the agency binary: " + ec.message());
  // Rebuilt since it started: the binary at the same path is the one to run.
  constexpr std::string_view kDeleted = " (deleted)";
  if (std::string s = exe.string(); s.ends_with(kDeleted)) {
    exe = s.substr(0, s.size() - kDeleted.size());
  }
  ProcessSpec spec;
  spec.argv = {exe.string(), "up", "--config", config_.string(), "--no-console"};
  spec.argv.insert(spec.argv.end(), extra_args_.begin(), extra_args_.end());
  spec.workdir = dir_;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view var(*e);
    bool drop = false;
    for (auto d : kDropped) drop = drop || var.starts_with(d);
    if (!drop) spec.env.emplace_back(var);
  }
  spec.env.push_back("AGENCY_CONFIG=" + config_.string());
  {
    std::lock_guard lock(mu_);
    stop_.store(false);
    running_ = false;
    ended_ = false;
    why_.clear();
    if (log_.is_open()) log_.close();
    log_.open(dir_ / "up.log", std::ios::app);
  }
  thread_ = std::thread([this, spec] {
    ProcessIo io;
    io.on_stdout_line = [this](std::string_view line) {
      std::lock_guard lock(mu_);
      log_ << line << '\n';
      log_.flush();
      if (line.find("running; Ctrl-C") != std::string_view::npos) {
        running_ = true;
        cv_.notify_all();
      }
      return true;
    };
    io.on_stderr_line = [this](std::string_view line) {
      std::lock_guard lock(mu_);
      log_ << line << '\n';
      return true;
    };
    auto r = run_process(spec, io, stop_);
    std::lock_guard lock(mu_);
    ended_ = true;
    running_ = false;
    why_ = r ? r->describe("agency up") : r.error().message;
    cv_.notify_all();
  });
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, limit, [&] { return running_ || ended_; });
  if (running_) return {};
  const std::string log = (dir_ / "up.log").string();
  if (ended_) {
    return make_error(errc::io, "agency up ended before it ran: " + why_ + " (log: " + log + ")");
  }
  return make_error(errc::timeout, "agency up did not say it runs within " +
                                       std::to_string(limit.count()) + " s (log: " + log + ")");
}

void UpProcess::stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
}

bool UpProcess::running() const {
  std::lock_guard lock(mu_);
  return running_ && !ended_;
}

Result<std::unique_ptr<Connection>> connect_up(const fs::path& state_dir, const std::string& name) {
  std::ifstream in(state_dir / "nats.url");
  std::string url;
  if (!in || !std::getline(in, url) || url.empty()) {
    return make_error(errc::io, "agency up wrote no " + (state_dir / "nats.url").string());
  }
  ConnectSettings settings;
  settings.servers = {url};
  settings.origin = "the private agency up";
  credentials::apply_local_admin(state_dir, {}, settings);
  ConnectOptions options;
  options.name = name;
  options.mode = ConnectMode::fail_fast;
  return Connection::open(settings, options);
}

}  // namespace agency
