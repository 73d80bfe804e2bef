// agency-bench-ingest: the accountant's ingest of a person's Claude Code
// transcripts beside `ccusage daily --json` on the same files, in the same
// run (issue 18; bench/README.md, docs/BENCHMARKS.md).
//
//  1. A deterministic transcript set of --lines lines (sessions of several
//     projects over two weeks, written as Claude Code 2.0 writes them).
//  2. Ingest, --runs times: a fresh nats-server with every stream and
//     bucket provisioned (as `agency init` leaves it), then agency-accountant
//     started cold, timed from its spawn until every sample the set makes
//     has passed on agency.usage.> (many to a message) and the stream holds
//     every message that passed (each stored, so acknowledged); the ledger
//     read back must then hold every sample.
//  3. ccusage 17.2.1 (tests/e2e), `daily --json --offline` with
//     CLAUDE_CONFIG_DIR on the set and TZ=UTC, --runs times: spawn to exit.
//  4. The ledger's day totals, read back from the stream, against
//     ccusage's: any difference is a failure (exit code 1).
//  5. Readiness with an empty ledger, --runs times: a fresh server, no
//     transcripts, from the accountant's spawn until it answers a lease.
//
// Threads: one; nats.c's own threads run inside the connection only.
#include <CLI/CLI.hpp>
#include <random>

#include "agency/v1/usage.pb.h"
#include "bench/harness.hpp"
#include "bus/codec.hpp"
#include "bus/provision.hpp"
#include "bus/subjects.hpp"
#include "roles/accountant/ledger_io.hpp"
#include "roles/accountant/settings.hpp"
#include "roles/accountant/transcripts.hpp"
#include "runtime/config.hpp"
#include "runtime/localtime.hpp"

namespace agency::bench {
namespace {

struct Options {
  int lines = 20000;
  int runs = 3;
  std::string accountant;  // default: agency-accountant beside this program
  std::string ccusage = std::string(AGENCY_SOURCE_DIR) + "/tests/e2e/node_modules/.bin/ccusage";
  std::string nats_server;
  bool smoke = false;
  bool json_out = false;
  bool keep = false;
};

// ---- the transcript set ------------------------------------------------------

// Claude Code 2.0's lines: a prompt, then per step an assistant message
// written once per content block (thinking, text, tool use: the same
// message id, request id and usage on each), the tool's result as a user
// line (its output twice: in the message and in toolUseResult), now and
// then a system line, a file-history snapshot, a summary, a sub-agent's
// side chain, an API error (<synthetic>, no request id). Tool output holds
// terminal colours (\u001b escapes) and non-ASCII text now and then.
class TranscriptSet {
 public:
  explicit TranscriptSet(std::uint64_t seed) : rng_(seed) {}

  struct Written {
    std::size_t lines = 0;
    std::size_t files = 0;
    std::uintmax_t bytes = 0;
  };

  // Exactly `total` lines under <config_dir>/projects.
  Written write(const fs::path& config_dir, std::size_t total) {
    static const char* projects[] = {"-home-dev-src-api",    "-home-dev-src-web",
                                     "-home-dev-src-infra",  "-home-dev-src-mobile",
                                     "-home-dev-src-agency", "-home-dev-notes"};
    Written w;
    // 2026-11-10 08:00 UTC; sessions follow one another over two weeks.
    std::int64_t at = 1'794'297'600'000;
    while (w.lines < total) {
      const std::string project = projects[pick(std::size(projects))];
      const std::string session = uuid();
      std::vector<std::string> lines = session_lines(at, session, project);
      if (w.lines + lines.size() > total) lines.resize(total - w.lines);
      const fs::path file = config_dir / "projects" / project / (session + ".jsonl");
      fs::create_directories(file.parent_path());
      std::ofstream out(file, std::ios::binary);
      for (const auto& l : lines) {
        out << l << '\n';
        w.bytes += l.size() + 1;
      }
      if (!out) throw Failure("cannot write " + file.string());
      w.lines += lines.size();
      ++w.files;
      at += between(20, 9 * 60) * 60'000LL;  // the next session
    }
    return w;
  }

 private:
  std::size_t pick(std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_);
  }
  std::int64_t between(std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng_);
  }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  std::string token(std::size_t n) {
    static constexpr std::string_view kChars =
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    std::string s(n, ' ');
    for (auto& c : s) c = kChars[pick(kChars.size())];
    return s;
  }
  std::string uuid() {
    static constexpr std::string_view kHex = "0123456789abcdef";
    std::string s;
    for (int group : {8, 4, 4, 4, 12}) {
      if (!s.empty()) s += '-';
      for (int i = 0; i < group; ++i) s += kHex[pick(16)];
    }
    return s;
  }
  std::string words(std::size_t n) {
    static const char* vocabulary[] = {
        "the",     "request", "handler", "returns", "a",      "test",  "for",   "rate",
        "limit",   "config",  "file",    "build",   "passes", "fails", "error", "in",
        "module",  "we",      "should",  "check",   "that",   "value", "is",    "not",
        "updated", "when",    "cache",   "expires", "add",    "retry", "and",   "log",
        "latency", "p99",     "under",   "load",    "über",   "naïve", "café",  "→"};
    std::string s;
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0) s += (i % 17 == 0) ? ".\n" : " ";
      s += vocabulary[pick(std::size(vocabulary))];
    }
    return s;
  }
  std::string tool_output(std::size_t n_lines) {
    std::string s;
    for (std::size_t i = 0; i < n_lines; ++i) {
      if (chance(0.05)) s += "\x1b[32m";  // terminal colours: \u001b in the JSON
      s += "src/" + token(6) + ".cpp:" + std::to_string(between(1, 900)) + ": " +
           words(between(4, 14));
      if (chance(0.05)) s += "\x1b[0m";
      s += '\n';
    }
    return s;
  }

  static std::string iso(std::int64_t epoch_ms) {
    std::time_t t = epoch_ms / 1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[48];
    std::snprintf(out, sizeof out, "%s.%03lldZ", buf, static_cast<long long>(epoch_ms % 1000));
    return out;
  }

  json common(const std::string& session, const std::string& project, const std::string& parent,
              bool sidechain) {
    return json{{"parentUuid", parent.empty() ? json(nullptr) : json(parent)},
                {"isSidechain", sidechain},
                {"userType", "external"},
                {"cwd", "/" + project.substr(1)},
                {"sessionId", session},
                {"version", "2.0.14"},
                {"gitBranch", "main"}};
  }

  std::vector<std::string> session_lines(std::int64_t& at, const std::string& session,
                                         const std::string& project) {
    static const char* models[] = {"claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929",
                                   "claude-sonnet-4-5-20250929", "claude-opus-4-1-20250805",
                                   "claude-haiku-4-5-20251001"};
    std::vector<std::string> out;
    std::string parent;
    const int turns = static_cast<int>(between(3, 40));
    std::int64_t context = between(8000, 30000);
    for (int turn = 0; turn < turns; ++turn) {
      at += between(20, 600) * 1000;
      if (chance(0.3)) {
        out.push_back(json{
            {"type", "file-history-snapshot"},
            {"messageId", uuid()},
            {"snapshot",
             {{"messageId", uuid()},
              {"trackedFileBackups", json::object()},
              {"timestamp", iso(at)}}},
            {"isSnapshotUpdate",
             false}}.dump());
      }
      json prompt = common(session, project, parent, false);
      prompt["type"] = "user";
      prompt["message"] = {{"role", "user"}, {"content", words(between(5, 60))}};
      prompt["uuid"] = parent = uuid();
      prompt["timestamp"] = iso(at);
      out.push_back(prompt.dump());

      const std::string model = models[pick(std::size(models))];
      const bool sidechain = chance(0.1);
      const int steps = static_cast<int>(between(1, 8));
      for (int step = 0; step < steps; ++step) {
        at += between(1500, 40000);
        const std::string msg_id = "msg_01" + token(22);
        const std::string request_id = "req_011C" + token(20);
        context += between(200, 4000);
        const std::int64_t creation = between(0, 6000);
        json usage = {{"input_tokens", between(1, 12)},
                      {"cache_creation_input_tokens", creation},
                      {"cache_read_input_tokens", context},
                      {"cache_creation",
                       {{"ephemeral_5m_input_tokens", creation}, {"ephemeral_1h_input_tokens", 0}}},
                      {"output_tokens", between(1, 1800)},
                      {"service_tier", "standard"}};
        std::vector<json> blocks;
        if (chance(0.4)) {
          blocks.push_back({{"type", "thinking"},
                            {"thinking", words(between(20, 200))},
                            {"signature", token(400)}});
        }
        if (chance(0.7)) blocks.push_back({{"type", "text"}, {"text", words(between(5, 120))}});
        const bool tool = step + 1 < steps;
        const std::string tool_id = "toolu_01" + token(22);
        if (tool) {
          blocks.push_back(
              {{"type", "tool_use"},
               {"id", tool_id},
               {"name", chance(0.5) ? "Bash" : "Read"},
               {"input",
                {{"command", "grep -rn " + token(8) + " src/"}, {"description", words(6)}}}});
        }
        if (blocks.empty()) blocks.push_back({{"type", "text"}, {"text", words(8)}});
        for (const auto& block : blocks) {
          json line = common(session, project, parent, sidechain);
          line["message"] = {{"id", msg_id},
                             {"type", "message"},
                             {"role", "assistant"},
                             {"model", model},
                             {"content", json::array({block})},
                             {"stop_reason", nullptr},
                             {"stop_sequence", nullptr},
                             {"usage", usage}};
          line["requestId"] = request_id;
          line["type"] = "assistant";
          line["uuid"] = parent = uuid();
          line["timestamp"] = iso(at);
          out.push_back(line.dump());
          at += between(50, 900);
        }
        if (tool) {
          const std::string output = tool_output(between(1, 60));
          json result = common(session, project, parent, sidechain);
          result["type"] = "user";
          result["message"] = {{"role", "user"},
                               {"content", json::array({{{"tool_use_id", tool_id},
                                                         {"type", "tool_result"},
                                                         {"content", output},
                                                         {"is_error", false}}})}};
          result["uuid"] = parent = uuid();
          result["timestamp"] = iso(at);
          result["toolUseResult"] = {
              {"stdout", output}, {"stderr", ""}, {"interrupted", false}, {"isImage", false}};
          out.push_back(result.dump());
        }
      }
      if (chance(0.03)) {
        // An API error: Claude Code's own placeholder, no request id.
        json line = common(session, project, parent, false);
        line["message"] = {
            {"id", uuid()},
            {"model", "<synthetic>"},
            {"role", "assistant"},
            {"type", "message"},
            {"content", json::array({{{"type", "text"}, {"text", "API Error: 529 Overloaded"}}})},
            {"usage", {{"input_tokens", 0}, {"output_tokens", 0}}}};
        line["type"] = "assistant";
        line["isApiErrorMessage"] = true;
        line["uuid"] = parent = uuid();
        line["timestamp"] = iso(at);
        out.push_back(line.dump());
      }
      if (chance(0.05)) {
        json line = common(session, project, parent, false);
        line["type"] = "system";
        line["subtype"] = "compact_boundary";
        line["content"] = "Conversation compacted";
        line["level"] = "info";
        line["uuid"] = parent = uuid();
        line["timestamp"] = iso(at);
        out.push_back(line.dump());
      }
    }
    out.push_back(json{{"type", "summary"}, {"summary", words(6)}, {"leafUuid", parent}}.dump());
    return out;
  }

  std::mt19937_64 rng_;
};

// ---- the accountant -----------------------------------------------------------

fs::path write_config(const fs::path& dir, const fs::path& claude_dir) {
  fs::create_directories(dir);
  fs::path file = dir / "agency.yaml";
  std::ofstream(file) << "# written by agency-bench-ingest\nstate_dir: state\n"
                         "accountant:\n  time_zone: UTC\n  transcripts_every_seconds: 3600\n"
                         "  accounts:\n    - name: me\n      config_dir: "
                      << claude_dir.string() << "\n      plan: max5\n";
  return file;
}

config::Config load_config(const fs::path& file) {
  auto c = config::load_file(file);
  if (!c) throw Failure("reading " + file.string() + ": " + c.error().message);
  return std::move(*c);
}

// Every stream, bucket and brief queue, as `agency init` leaves them.
void provision_all(const Server& server, const config::Config& config) {
  auto c = connect(server.url(), "agency-bench-ingest-provision");
  if (auto r = provision(*c, config::provision_plan(config, {})); !r) {
    throw Failure("provisioning: " + r.error().message);
  }
}

std::unique_ptr<Child> start_accountant(const Options& o, const Server& server, const fs::path& dir,
                                        const fs::path& config, const std::string& id) {
  const std::string binary =
      o.accountant.empty() ? (bin_dir() / "agency-accountant").string() : o.accountant;
  if (!fs::exists(binary)) {
    throw Failure(binary +
                  " is missing: build it (cmake --build <dir> --target agency-accountant)");
  }
  std::map<std::string, std::optional<std::string>> env = {
      {"NATS_URL", server.url()},
      {"AGENCY_CONFIG", config.string()},
      {"AGENCY_AGENT_ID", id},
      {"CLAUDE_CONFIG_DIR", std::nullopt},
      {"NATS_CONTEXT", std::nullopt},
      {"NATS_CREDS", std::nullopt},
      {"NATS_USER", std::nullopt},
      {"NATS_PASSWORD", std::nullopt},
      {"NATS_TOKEN", std::nullopt},
      {"NATS_NKEY", std::nullopt},
      {"AGENCY_STATE_DIR", std::nullopt},
  };
  return std::make_unique<Child>(std::vector<std::string>{binary}, env, dir, dir / (id + ".log"));
}

std::uint64_t stream_messages(Connection& c, std::string_view stream) {
  jsStreamInfo* info = nullptr;
  jsErrCode code = static_cast<jsErrCode>(0);
  const std::string name(stream);
  if (js_GetStreamInfo(&info, c.js(), name.c_str(), nullptr, &code) != NATS_OK) return 0;
  const std::uint64_t n = info->State.Msgs;
  jsStreamInfo_Destroy(info);
  return n;
}

std::string log_tail(const fs::path& log) {
  std::ifstream in(log);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::string out;
  for (std::size_t i = lines.size() > 8 ? lines.size() - 8 : 0; i < lines.size(); ++i) {
    out += "\n  " + lines[i];
  }
  return out;
}

struct IngestRun {
  double ms = 0;               // spawn to every sample stored
  double cpu_ms = 0;           // the accountant's CPU until then
  std::uint64_t messages = 0;  // stream messages that hold them
  std::map<std::string, accounting::TokenCounts> days;
};

IngestRun ingest_once(const Options& o, const fs::path& dir, const fs::path& claude_dir,
                      std::uint64_t samples, int run) {
  const fs::path run_dir = dir / ("ingest-" + std::to_string(run));
  fs::create_directories(run_dir / "nats");
  const fs::path config_file = write_config(run_dir, claude_dir);
  const auto config = load_config(config_file);
  Server server(run_dir / "nats", o.nats_server);
  provision_all(server, config);
  auto observer = connect(server.url(), "agency-bench-ingest");

  // The samples travel many to a message (UsageSamples): count the samples
  // of every message as it passes, and the messages; the stream holds every
  // sample once it stores as many messages as passed.
  const std::string samples_prefix = subjects::usage_samples("");
  std::atomic<std::uint64_t> seen_samples = 0;
  std::atomic<std::uint64_t> seen_messages = 0;
  auto counter = observer->subscribe("agency.usage.>", {}, [&](Incoming m) {
    // Counted, not checked (the ledger read back below checks them all):
    // the bench shares the machine's two cores with the accountant.
    // An older accountant (--accountant) sends one sample per message.
    if (!m.subject().starts_with(samples_prefix)) {
      ++seen_samples;
    } else if (v1::UsageSamples batch;
               batch.ParseFromArray(m.data().data(), static_cast<int>(m.data().size()))) {
      seen_samples += static_cast<std::uint64_t>(batch.samples_size());
    }
    ++seen_messages;
  });
  if (!counter) throw Failure("subscribing to the usage stream: " + counter.error().message);

  IngestRun r;
  const auto began = Clock::now();
  auto accountant = start_accountant(o, server, run_dir, config_file, "accountant-ingest");
  const auto deadline = began + 120s;
  std::uint64_t stored = 0;
  while (seen_samples.load() < samples ||
         (stored = stream_messages(*observer, subjects::kUsageStream)) < seen_messages.load()) {
    if (Clock::now() > deadline || !accountant->running()) {
      throw Failure("the accountant sent " + std::to_string(seen_samples.load()) + " of " +
                    std::to_string(samples) + " samples, the stream stored " +
                    std::to_string(stored) + " messages" +
                    (accountant->running() ? " within 120 s" : " and exited") +
                    "; the end of its log:" + log_tail(accountant->log()));
    }
    std::this_thread::sleep_for(1ms);  // polling the counts, with a deadline
  }
  r.ms = ms_between(began, Clock::now());
  r.cpu_ms = cpu_ms(accountant->pid());
  r.messages = stored;
  accountant->signal(SIGTERM);
  (void)accountant->wait(10s);

  auto ledger = accounting::replay_ledger(*observer, config::accountant(config));
  if (!ledger) throw Failure("reading the ledger back: " + ledger.error().message);
  if (ledger->size() != samples) {
    throw Failure("AGENCY_USAGE holds " + std::to_string(ledger->size()) +
                  " samples where the set makes " + std::to_string(samples));
  }
  for (const auto* e : ledger->all()) {
    const auto local = to_local(e->at, "UTC");
    char date[16];
    std::snprintf(date, sizeof date, "%04d-%02d-%02d", local.year, local.month, local.day);
    r.days[date] += e->tokens;
  }
  return r;
}

// ---- ccusage ---------------------------------------------------------------------

struct CcusageRun {
  double ms = 0;
  json daily;
};

CcusageRun ccusage_once(const Options& o, const fs::path& dir, const fs::path& claude_dir,
                        int run) {
  if (!fs::exists(o.ccusage)) {
    throw Failure(o.ccusage +
                  " is missing: run scripts/install-deps.sh (ccusage 17.2.1 in "
                  "tests/e2e), or pass --ccusage");
  }
  const fs::path out_file = dir / ("ccusage-" + std::to_string(run) + ".json");
  const fs::path err_file = dir / ("ccusage-" + std::to_string(run) + ".err");
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    const std::string key = kv.substr(0, kv.find('='));
    if (key != "CLAUDE_CONFIG_DIR" && key != "TZ") env.push_back(std::move(kv));
  }
  env.push_back("CLAUDE_CONFIG_DIR=" + claude_dir.string());
  env.push_back("TZ=UTC");
  const int out = ::open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  const int err = ::open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0 || err < 0) throw Failure("cannot write to " + dir.string());
  SpawnSpec spec;
  spec.argv = {o.ccusage, "daily", "--json", "--offline"};
  spec.env = std::move(env);
  spec.stdout_fd = out;
  spec.stderr_fd = err;
  spec.death_signal = SIGKILL;
  const auto began = Clock::now();
  auto pid = spawn_process(spec);
  ::close(out);
  ::close(err);
  if (!pid) throw Failure("cannot run " + o.ccusage + ": " + pid.error().message);
  int status = 0;
  ::waitpid(*pid, &status, 0);
  const double ms = ms_between(began, Clock::now());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw Failure("ccusage failed; its errors are in " + err_file.string());
  }
  std::ifstream in(out_file);
  json daily = json::parse(in, nullptr, false);
  if (!daily.is_object() || !daily.contains("daily")) {
    throw Failure("ccusage printed no daily report: " + out_file.string());
  }
  return CcusageRun{ms, std::move(daily)};
}

// The days on which the ledger and ccusage differ, as text; empty: equal.
std::vector<std::string> differences(const std::map<std::string, accounting::TokenCounts>& ours,
                                     const json& theirs) {
  std::vector<std::string> out;
  std::map<std::string, json> by_date;
  for (const auto& d : theirs.at("daily")) by_date[d.at("date").get<std::string>()] = d;
  for (const auto& [date, d] : by_date) {
    auto it = ours.find(date);
    if (it == ours.end()) {
      out.push_back(date + ": only in ccusage");
      continue;
    }
    const auto& t = it->second;
    if (t.input != d.at("inputTokens").get<std::int64_t>() ||
        t.output != d.at("outputTokens").get<std::int64_t>() ||
        t.cache_creation != d.at("cacheCreationTokens").get<std::int64_t>() ||
        t.cache_read != d.at("cacheReadTokens").get<std::int64_t>()) {
      out.push_back(date + ": ledger " + std::to_string(t.input) + "/" + std::to_string(t.output) +
                    "/" + std::to_string(t.cache_creation) + "/" + std::to_string(t.cache_read) +
                    ", ccusage " + d.at("inputTokens").dump() + "/" + d.at("outputTokens").dump() +
                    "/" + d.at("cacheCreationTokens").dump() + "/" +
                    d.at("cacheReadTokens").dump());
    }
  }
  for (const auto& [date, t] : ours) {
    if (by_date.count(date) == 0) out.push_back(date + ": only in the ledger");
  }
  return out;
}

// ---- readiness with an empty ledger ------------------------------------------

double ready_once(const Options& o, const fs::path& dir, int run) {
  const fs::path run_dir = dir / ("ready-" + std::to_string(run));
  fs::create_directories(run_dir / "nats");
  fs::create_directories(run_dir / "claude" / "projects");
  const fs::path config_file = write_config(run_dir, run_dir / "claude");
  Server server(run_dir / "nats", o.nats_server);
  provision_all(server, load_config(config_file));
  auto client = connect(server.url(), "agency-bench-ingest-lease");
  v1::Lease lease;
  lease.set_id("bench-ready-" + std::to_string(run));
  lease.set_agent_id("agency-bench-ingest");
  lease.set_role("builder");
  lease.set_priority("scheduled");
  lease.set_estimate_tokens(1000);
  lease.set_probe(true);
  const Outgoing ask = codec::encode(lease);

  const auto began = Clock::now();
  auto accountant = start_accountant(o, server, run_dir, config_file, "accountant-ready");
  const auto deadline = began + 30s;
  while (true) {
    auto answer = client->request(subjects::kBudgetLease, ask, 50ms);
    if (answer) break;
    if (Clock::now() > deadline || !accountant->running()) {
      throw Failure("the accountant answered no lease" +
                    std::string(accountant->running() ? " within 30 s" : " and exited") +
                    "; the end of its log:" + log_tail(accountant->log()));
    }
    // No responders comes back at once: a short pause between asks.
    if (answer.error().code == errc::no_responders) std::this_thread::sleep_for(500us);
  }
  const double ms = ms_between(began, Clock::now());
  accountant->signal(SIGTERM);
  (void)accountant->wait(10s);
  return ms;
}

// ---- the run -----------------------------------------------------------------------

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

std::string load_average() {
  std::ifstream in("/proc/loadavg");
  std::string a;
  std::string b;
  std::string c;
  in >> a >> b >> c;
  return a + " " + b + " " + c;
}

std::string list(const std::vector<double>& v) {
  std::string s;
  for (double x : v) s += (s.empty() ? "" : ", ") + fixed(x, 0);
  return s;
}

int run(const Options& o) {
  TempDir tmp(o.keep);
  const fs::path claude_dir = tmp.path() / "claude";
  const std::string load_before = load_average();
  progress("writing " + std::to_string(o.lines) + " transcript lines");
  TranscriptSet set(20261203);
  const auto written = set.write(claude_dir, static_cast<std::size_t>(o.lines));

  // What the set makes, read as the accountant reads it: how many samples
  // the stream will hold.
  // Also timed: the reading alone (files to entries, in this process), the
  // part of the ingest that is not the bus.
  TranscriptReader reader;
  const auto read_began = Clock::now();
  auto batch = reader.read_new(transcript_roots(claude_dir.string(), tmp.path()));
  const double read_ms = ms_between(read_began, Clock::now());
  if (!batch) throw Failure("reading the set: " + batch.error().message);
  const std::uint64_t samples = batch->entries.size();

  std::vector<double> ingest_ms;
  std::uint64_t stream_messages_stored = 0;
  std::vector<double> cpu;
  std::vector<double> ccusage_ms;
  std::vector<double> ready_ms;
  std::vector<std::string> diffs;
  std::size_t days = 0;
  for (int i = 0; i < o.runs; ++i) {
    progress("run " + std::to_string(i + 1) + " of " + std::to_string(o.runs) +
             ": the accountant's ingest");
    auto ingest = ingest_once(o, tmp.path(), claude_dir, samples, i);
    ingest_ms.push_back(ingest.ms);
    cpu.push_back(ingest.cpu_ms);
    stream_messages_stored = ingest.messages;
    progress("run " + std::to_string(i + 1) + ": ccusage daily --json");
    auto cc = ccusage_once(o, tmp.path(), claude_dir, i);
    ccusage_ms.push_back(cc.ms);
    auto d = differences(ingest.days, cc.daily);
    days = ingest.days.size();
    diffs.insert(diffs.end(), d.begin(), d.end());
    progress("run " + std::to_string(i + 1) + ": readiness with an empty ledger");
    ready_ms.push_back(ready_once(o, tmp.path(), i));
  }
  const std::string load_after = load_average();
  const double ingest = median(ingest_ms);
  const double cc = median(ccusage_ms);
  const double ratio = ingest > 0 ? cc / ingest : 0;
  const double ready = median(ready_ms);
  const bool equal = diffs.empty();

  if (o.json_out) {
    json out = {{"lines", written.lines},
                {"files", written.files},
                {"bytes", written.bytes},
                {"samples", samples},
                {"read_ms", read_ms},
                {"days", days},
                {"runs", o.runs},
                {"ingest_ms", {{"median", ingest}, {"runs", ingest_ms}}},
                {"accountant_cpu_ms", {{"median", median(cpu)}, {"runs", cpu}}},
                {"stream_messages", stream_messages_stored},
                {"ccusage_ms", {{"median", cc}, {"runs", ccusage_ms}}},
                {"ratio", ratio},
                {"day_totals_equal", equal},
                {"differences", diffs},
                {"ready_ms", {{"median", ready}, {"runs", ready_ms}}},
                {"load_average", {{"before", load_before}, {"after", load_after}}},
                {"machine",
                 {{"cores", std::thread::hardware_concurrency()},
                  {"nats_c", nats_GetVersion()},
                  {"build", AGENCY_BENCH_BUILD_TYPE}}}};
    std::cout << out.dump(2) << std::endl;
  } else {
    std::cout << "transcripts      " << written.lines << " lines in " << written.files << " files, "
              << fixed(static_cast<double>(written.bytes) / 1e6, 1) << " MB; " << samples
              << " samples after de-duplication, " << days << " days; read alone (here, no bus) "
              << fixed(read_ms, 0) << " ms\n";
    std::cout << "accountant       cold start to every sample acknowledged: " << fixed(ingest, 0)
              << " ms median of " << o.runs << " (" << list(ingest_ms) << "); its CPU "
              << fixed(median(cpu), 0) << " ms; " << stream_messages_stored
              << " stream messages hold them\n";
    std::cout << "ccusage          daily --json --offline, same files: " << fixed(cc, 0)
              << " ms median (" << list(ccusage_ms) << ")\n";
    std::cout << "ratio            " << fixed(ratio, 1)
              << "x   target >= 10x: " << (ratio >= 10 ? "PASS" : "FAIL") << "\n";
    std::cout << "day totals       " << (equal ? "equal" : "DIFFERENT") << " on " << days
              << " days (input, output, cache creation, cache read)\n";
    for (const auto& d : diffs) std::cout << "  " << d << "\n";
    std::cout << "empty ledger     spawn to the first lease answered: " << fixed(ready, 0)
              << " ms median (" << list(ready_ms)
              << ")   target <= 200 ms: " << (ready <= 200 ? "PASS" : "FAIL") << "\n";
    std::cout << "load average     " << load_before << " before, " << load_after << " after ("
              << std::thread::hardware_concurrency() << " cores, build " << AGENCY_BENCH_BUILD_TYPE
              << ")\n";
  }
  if (!equal) {
    std::cerr << "agency-bench-ingest: the ledger's day totals differ from ccusage's" << std::endl;
    return 1;
  }
  return 0;
}

int ingest_main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "agency-bench-ingest: the accountant's transcript ingest, cold start to samples "
      "acknowledged, beside `ccusage daily --json` on the same generated transcripts in the same "
      "run; day totals must be equal; and its readiness with an empty ledger (bench/README.md)"};
  app.add_option("--lines", o.lines, "transcript lines to generate")
      ->check(CLI::Range(10, 2'000'000));
  app.add_option("--runs", o.runs, "runs of each measurement (the median is reported)")
      ->check(CLI::Range(1, 100));
  app.add_option("--accountant", o.accountant,
                 "agency-accountant binary (default: the one beside this program)");
  app.add_option("--ccusage", o.ccusage, "ccusage binary (default: tests/e2e's, 17.2.1)");
  app.add_option("--nats-server", o.nats_server, "nats-server binary (default: on PATH)");
  app.add_flag("--smoke", o.smoke, "a small run (2,000 lines, one run): checks the benchmark runs");
  app.add_flag("--json", o.json_out, "print the figures as JSON");
  app.add_flag("--keep", o.keep, "keep the temp dir (transcripts, server stores, accountant logs)");
  CLI11_PARSE(app, argc, argv);
  if (o.smoke) {
    o.lines = std::min(o.lines, 2000);
    o.runs = 1;
  }
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::cerr << "agency-bench-ingest: " << e.what() << std::endl;
    return 1;
  }
}

}  // namespace
}  // namespace agency::bench

int main(int argc, char** argv) {
  try {
    return agency::bench::ingest_main(argc, argv);
  } catch (...) {
    std::cerr << "agency-bench-ingest: could not run (an unexpected error while reading the "
                 "options)\n";
    return 1;
  }
}
