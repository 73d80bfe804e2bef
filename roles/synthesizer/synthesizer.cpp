#include "roles/synthesizer/synthesizer.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <map>
#include <set>
#include <system_error>

#include "bus/clock.hpp"
#include "bus/vocabulary.hpp"
#include "roles/synthesizer/settings.hpp"
#include "runtime/catalog.hpp"
#include "runtime/localtime.hpp"
#include "runtime/mesh.hpp"

namespace agency::roles {

namespace voc = vocabulary;
namespace fs = std::filesystem;
using Clock = std::chrono::system_clock;

namespace {

constexpr std::string_view kLastSeqKey = "synthesizer.last_seq";
constexpr std::string_view kLastDateKey = "synthesizer.last_digest_date";
constexpr std::string_view kDigestPrefix = "digest:";
// After a failed tick (memory or bus unreadable), wait this long before the
// next attempt instead of spinning on a digest that is due.
constexpr auto kRetryAfter = std::chrono::minutes(1);

// The moment `days` after the local date of `now` at `at`, local time.
std::optional<Clock::time_point> local_at(Clock::time_point now, TimeOfDay at, int days,
                                          std::string_view zone) {
  auto local = to_local(now, zone);
  return from_local(local.year, local.month, local.day + days, at.hour, at.minute, zone);
}

std::string utc_text(const google::protobuf::Timestamp& ts) {
  if (ts.seconds() == 0 && ts.nanos() == 0) return "unknown";
  auto secs = static_cast<std::time_t>(ts.seconds());
  std::tm utc{};
  ::gmtime_r(&secs, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

std::string project_name(const v1::WorkLog& log) {
  return log.project().empty() ? std::string("(no project)") : log.project();
}

// Logs by project name, sorted by name, stream order kept inside one.
std::map<std::string, std::vector<const v1::WorkLog*>> by_project(
    const std::vector<v1::WorkLog>& logs) {
  std::map<std::string, std::vector<const v1::WorkLog*>> out;
  for (const auto& log : logs) out[project_name(log)].push_back(&log);
  return out;
}

// A table cell: one line, no column breaks.
std::string cell(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '|') {
      out += "\\|";
    } else if (c == '\n' || c == '\r') {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out.empty() ? std::string("-") : out;
}

std::string plural(std::size_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

bool is_date(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i == 4 || i == 7) continue;
    if (text[i] < '0' || text[i] > '9') return false;
  }
  return true;
}

std::size_t project_count(const std::vector<v1::WorkLog>& logs) {
  std::set<std::string> names;
  for (const auto& log : logs) names.insert(project_name(log));
  return names.size();
}

}  // namespace

Result<TimeOfDay> parse_time_of_day(std::string_view text) {
  auto bad = [&] {
    return make_error(errc::config, "synthesizer.digest_at: '" + std::string(text) +
                                        "' is not a time of day; write HH:MM, like 04:00");
  };
  auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 2 || text.size() != colon + 3) {
    return bad();
  }
  auto number = [](std::string_view digits) {
    int n = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return -1;
      n = n * 10 + (c - '0');
    }
    return n;
  };
  TimeOfDay t{number(text.substr(0, colon)), number(text.substr(colon + 1))};
  if (t.hour < 0 || t.hour > 23 || t.minute < 0 || t.minute > 59) return bad();
  return t;
}

Result<void> check_time_zone(std::string_view time_zone) {
  return agency::check_time_zone(time_zone, "synthesizer.time_zone");
}

Result<Clock::time_point> next_digest_time(Clock::time_point now, std::string_view at,
                                           std::string_view time_zone) {
  auto t = parse_time_of_day(at);
  if (!t) return t.error();
  if (auto z = check_time_zone(time_zone); !z) return z.error();
  // Today's, else the next day's; a third day only if both fell into DST
  // gaps that mktime moved back before now.
  for (int days = 0; days < 3; ++days) {
    auto candidate = local_at(now, *t, days, time_zone);
    if (candidate && *candidate > now) return *candidate;
  }
  return make_error(errc::internal, "cannot place " + std::string(at) + " in local time");
}

Result<bool> digest_due(Clock::time_point now, std::string_view at, std::string_view time_zone) {
  auto t = parse_time_of_day(at);
  if (!t) return t.error();
  if (auto z = check_time_zone(time_zone); !z) return z.error();
  auto today = local_at(now, *t, 0, time_zone);
  return today && *today <= now + std::chrono::seconds(60);
}

Result<std::string> local_date(Clock::time_point now, std::string_view time_zone) {
  if (auto z = check_time_zone(time_zone); !z) return z.error();
  auto local = to_local(now, time_zone);
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", local.year, local.month, local.day);
  return std::string(buf);
}

std::string render_log_list(const std::vector<v1::WorkLog>& logs) {
  std::string out;
  for (const auto& [project, list] : by_project(logs)) {
    out += "## Project " + project + " (" + plural(list.size(), "work log", "work logs") + ")\n\n";
    for (const auto* log : list) {
      out += "### " + (log->task_id().empty() ? std::string("(no task id)") : log->task_id()) +
             ": " + cell(log->title()) + "\n\n";
      out +=
          "- outcome: " + (log->outcome().empty() ? std::string("unknown") : log->outcome()) + "\n";
      if (!log->branch().empty()) out += "- branch: " + log->branch() + "\n";
      if (!log->commits().empty()) {
        out += "- commits: " + std::to_string(log->commits_size()) + "\n";
      }
      out += "- tokens: " + std::to_string(log->tokens()) + "\n";
      out += "- closed: " + utc_text(log->closed_at()) + "\n";
      if (!log->agent_id().empty()) out += "- closed by: " + log->agent_id() + "\n";
      if (!log->summary().empty()) {
        out += "- summary:\n";
        std::string_view rest = log->summary();
        while (!rest.empty()) {
          auto end = rest.find('\n');
          out += "  " + std::string(rest.substr(0, end)) + "\n";
          rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
        }
      }
      out += "\n";
    }
  }
  return out;
}

std::string render_digest(std::string_view date, std::string_view summary,
                          const std::vector<v1::WorkLog>& logs) {
  std::string out = "# Agency digest for " + std::string(date) + "\n\n";
  std::string_view text = summary;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  while (!text.empty() && (text.front() == '\n' || text.front() == ' ')) text.remove_prefix(1);
  if (!text.empty()) {
    out += std::string(text) + "\n\n";
  }
  out += "## Work logs by project\n\n";
  if (logs.empty()) {
    out += "No work logs since the last digest.\n";
    return out;
  }
  std::int64_t total = 0;
  auto groups = by_project(logs);
  for (const auto& [project, list] : groups) {
    out += "### " + project + "\n\n";
    out += "| task | title | outcome | tokens |\n|---|---|---|---|\n";
    std::int64_t tokens = 0;
    std::map<std::string, std::size_t> outcomes;
    for (const auto* log : list) {
      out += "| " + cell(log->task_id()) + " | " + cell(log->title()) + " | " +
             cell(log->outcome()) + " | " + std::to_string(log->tokens()) + " |\n";
      tokens += log->tokens();
      ++outcomes[log->outcome().empty() ? std::string("unknown") : log->outcome()];
    }
    std::string counts;
    for (const auto& [outcome, n] : outcomes) {
      counts += (counts.empty() ? "" : ", ") + std::to_string(n) + " " + outcome;
    }
    out += "\n" + plural(list.size(), "task", "tasks") + " (" + counts + "), " +
           std::to_string(tokens) + " tokens.\n\n";
    total += tokens;
  }
  out += "In all: " + plural(logs.size(), "work log", "work logs") + " from " +
         plural(groups.size(), "project", "projects") + ", " + std::to_string(total) + " tokens.\n";
  return out;
}

fs::path digest_dir(const RoleContext& ctx) {
  if (ctx.config != nullptr) {
    if (!config::synthesizer(*ctx.config).dir.empty()) return config::synthesizer(*ctx.config).dir;
    if (!ctx.config->state_dir.empty()) return ctx.config->state_dir / "digests";
  }
  // work_dir is <state_dir>/work.
  return ctx.work_dir.parent_path() / "digests";
}

config::Synthesizer Synthesizer::settings(const RoleContext& ctx) const {
  return ctx.config != nullptr ? config::synthesizer(*ctx.config) : config::Synthesizer{};
}

Result<void> Synthesizer::start(const RoleContext& ctx) {
  auto s = settings(ctx);
  if (auto t = parse_time_of_day(s.digest_at); !t) return t.error();
  if (auto z = check_time_zone(s.time_zone); !z) return z.error();
  if (ctx.mesh != nullptr) {
    // So a restart after today's digest does not tick at once for it.
    if (auto date = ctx.mesh->recall(kLastDateKey); date && *date) filed_date_ = **date;
  }
  return {};
}

std::optional<std::chrono::milliseconds> Synthesizer::tick_every(const RoleContext& ctx) const {
  auto s = settings(ctx);
  auto now = Clock::now();
  auto next = next_digest_time(now, s.digest_at, s.time_zone);
  if (!next) return std::nullopt;  // start() reported it
  auto wait = std::chrono::ceil<std::chrono::milliseconds>(*next - now);
  // Due today and not filed (the agent was down at digest_at): at once,
  // or after the retry pause when the last attempt failed.
  auto due = digest_due(now, s.digest_at, s.time_zone);
  auto today = local_date(now, s.time_zone);
  if (due && *due && today && *today != filed_date_) {
    wait =
        std::chrono::ceil<std::chrono::milliseconds>(std::max(retry_at_ - now, Clock::duration{}));
  }
  return std::max(wait, std::chrono::milliseconds(1));
}

Result<void> Synthesizer::tick(const RoleContext& ctx) {
  auto s = settings(ctx);
  auto now = Clock::now();
  auto due = digest_due(now, s.digest_at, s.time_zone);
  if (!due) return due.error();
  auto date = local_date(now, s.time_zone);
  if (!date) return date.error();
  if (!*due || *date == filed_date_) return {};
  auto failed = [&](const Error& e, std::string_view doing) {
    retry_at_ = now + kRetryAfter;
    return make_error(e.code, std::string(doing) + ": " + e.message);
  };
  if (ctx.mesh == nullptr) {
    // Paused like any failure: tick_every would call again at once.
    return failed(Error{errc::internal, "no bus to file it on (the role runs without a mesh)"},
                  "filing the digest brief");
  }
  auto last = ctx.mesh->recall(kLastDateKey);
  if (!last) return failed(last.error(), "reading the last digest date");
  if (*last && **last == *date) {
    filed_date_ = *date;
    return {};
  }
  v1::Brief brief;
  brief.set_id(std::string(kDigestPrefix) + *date);
  brief.set_objective("Daily digest for " + *date);
  brief.set_origin(ctx.agent_id);
  brief.set_priority(std::string(voc::kScheduled));
  brief.set_done_when("the digest of the work logs since the last one is written");
  *brief.mutable_created_at() = to_timestamp(now);
  auto filed = ctx.mesh->file_brief(name(), brief);
  if (!filed) return failed(filed.error(), "filing the digest brief");
  filed_date_ = *date;
  if (auto r = ctx.mesh->remember(kLastDateKey, *date); !r) {
    // Filed already; this process will not file it again, and the brief
    // id makes the server drop a restart's copy within its window.
    return make_error(r.error().code, "remembering the digest date: " + r.error().message);
  }
  return {};
}

void Synthesizer::take_logs(std::vector<v1::WorkLog> logs, std::uint64_t last_sequence) {
  logs_ = std::move(logs);
  last_sequence_ = last_sequence;
  load_error_.reset();
}

std::optional<Decision> Synthesizer::precheck(const RoleContext& ctx, const v1::Brief& /*brief*/,
                                              const v1::Task& /*task*/) {
  load_error_.reset();
  if (ctx.mesh != nullptr) {
    std::uint64_t after = 0;
    auto seq = ctx.mesh->recall(kLastSeqKey);
    if (!seq) {
      load_error_ = make_error(seq.error().code,
                               "reading " + std::string(kLastSeqKey) + ": " + seq.error().message);
      return std::nullopt;
    }
    if (*seq) after = std::strtoull((*seq)->c_str(), nullptr, 10);
    auto batch = ctx.mesh->work_logs_after(after);
    if (!batch) {
      load_error_ =
          make_error(batch.error().code, "reading the work logs: " + batch.error().message);
      return std::nullopt;
    }
    logs_.clear();
    // A digest's own task closes with a work log too: digesting digests
    // would never leave the synthesizer with nothing to do.
    for (auto& log : batch->messages) {
      if (log.role() != name()) logs_.push_back(std::move(log));
    }
    last_sequence_ = batch->last_sequence;
    if (logs_.empty() && last_sequence_ > after) {
      (void)ctx.mesh->remember(kLastSeqKey, std::to_string(last_sequence_));
    }
  }
  if (logs_.empty()) {
    Decision d;
    d.next_stage = std::string(voc::kDone);
    d.reason = "no work logs since the last digest";
    return d;
  }
  return std::nullopt;
}

Result<Turn> Synthesizer::prepare(const RoleContext& ctx, const v1::Brief& brief,
                                  const v1::Task& task) {
  if (load_error_) return *load_error_;
  Turn turn = start_turn(ctx, name(), brief, task);
  auto dir = scratch_dir(ctx, task_id_of(brief, task));
  if (!dir) return dir.error();
  turn.workdir = *dir;
  turn.brief.set_context(render_log_list(logs_));

  std::string w = "# Workspace\n\n";
  w += "Your working directory " + dir->string() +
       " is a scratch folder for notes; nothing in it is kept.\n";
  w += "The work logs to digest are above under Context: " + plural(logs_.size(), "task", "tasks") +
       " closed in " + plural(project_count(logs_), "project", "projects") +
       " since the last digest. Write the digest in markdown as your answer, before the block; "
       "the agency adds a table of the logs per project itself, so do not repeat them one by "
       "one.\n";
  turn.prompt = compose_prompt(ctx.skill, turn.brief, task, w);
  return turn;
}

Result<Decision> Synthesizer::finish(const RoleContext& ctx, const Turn& turn,
                                     const Outcome& outcome) {
  std::string reason = reason_of(outcome);
  if (outcome.verdict == "fail" || outcome.verdict == "blocked") {
    return blocked("the synthesizer reports " + outcome.verdict + ": " + reason +
                   " (its work logs stay for the next digest)");
  }
  if (outcome.verdict != "pass") {
    return blocked("the synthesizer gave no verdict (no ```agency block, docs/OUTCOME.md): " +
                   reason);
  }
  std::string date;
  std::string_view id = turn.brief.id();
  if (id.rfind(kDigestPrefix, 0) == 0 && is_date(id.substr(kDigestPrefix.size()))) {
    date = std::string(id.substr(kDigestPrefix.size()));
  } else {
    auto today = local_date(Clock::now(), settings(ctx).time_zone);
    if (!today) return today.error();
    date = *today;
  }

  std::string summary = answer_without_block(outcome.text);
  if (summary.find_first_not_of(" \n\t\r") == std::string::npos) summary = outcome.block.summary;
  auto written = write_dated_file(digest_dir(ctx), date, render_digest(date, summary, logs_));
  if (!written) return written.error();
  const fs::path& path = *written;

  const std::size_t projects = project_count(logs_);
  Decision d;
  d.next_stage = std::string(voc::kDone);
  d.reason = "digest of " + plural(logs_.size(), "work log", "work logs") + " from " +
             plural(projects, "project", "projects") + " written to " + path.string();
  d.attachments["digest"] = path.string();

  if (ctx.mesh != nullptr) {
    v1::FleetEvent e;
    e.set_kind("digest");
    e.set_task_id(task_id_of(turn.brief, turn.task));
    e.set_reason(d.reason);
    (*e.mutable_details())["path"] = path.string();
    (*e.mutable_details())["count"] = std::to_string(logs_.size());
    (*e.mutable_details())["projects"] = std::to_string(projects);
    (*e.mutable_details())["last_sequence"] = std::to_string(last_sequence_);
    // Written already: a failure here is not worth running the engine
    // again. Without the sequence the next digest covers these logs again.
    if (auto r = ctx.mesh->remember(kLastSeqKey, std::to_string(last_sequence_)); !r) {
      (*e.mutable_details())["warning"] = "last sequence not remembered: " + r.error().message;
    }
    (void)ctx.mesh->record("digest", std::move(e));
  }
  logs_.clear();
  return d;
}

}  // namespace agency::roles

// The role's entry in the catalog (runtime/catalog.hpp).
namespace agency::catalog::entries {
RoleInfo synthesizer() {
  RoleInfo info("synthesizer");
  info.lateral = true;
  info.settings = config::read_synthesizer;
  return info;
}
}  // namespace agency::catalog::entries
