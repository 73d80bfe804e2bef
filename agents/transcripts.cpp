#include "agents/transcripts.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "agents/json_fields.hpp"
#include "agents/limits.hpp"

namespace agency {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

std::string dedup_key(const TranscriptEntry& e) {
  if (e.message_id.empty() || e.request_id.empty()) return {};
  return e.message_id + ":" + e.request_id;
}

std::string local_date(std::chrono::system_clock::time_point at) {
  const std::time_t t = std::chrono::system_clock::to_time_t(at);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

}  // namespace

std::optional<TranscriptEntry> parse_transcript_line(std::string_view line) {
  json j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  if (json_text(j, "type") != "assistant") return std::nullopt;
  auto msg = j.find("message");
  if (msg == j.end() || !msg->is_object()) return std::nullopt;
  auto usage = msg->find("usage");
  if (usage == msg->end() || !usage->is_object()) return std::nullopt;
  auto at = limits::parse_rfc3339(json_text(j, "timestamp"));
  if (!at) return std::nullopt;
  // ccusage 17 drops a line whose message id or request id is given but
  // empty (absent ones are fine): so do we, or day totals would differ.
  auto empty_given = [](const json& object, const char* key) {
    auto it = object.find(key);
    return it != object.end() && (!it->is_string() || it->get<std::string>().empty());
  };
  if (empty_given(*msg, "id") || empty_given(j, "requestId")) return std::nullopt;
  TranscriptEntry e;
  e.message_id = json_text(*msg, "id");
  e.request_id = json_text(j, "requestId");
  e.session_id = json_text(j, "sessionId");
  e.model = json_text(*msg, "model");
  e.cwd = json_text(j, "cwd");
  e.at = *at;
  e.input_tokens = json_count(*usage, "input_tokens");
  e.output_tokens = json_count(*usage, "output_tokens");
  e.cache_creation_tokens = json_count(*usage, "cache_creation_input_tokens");
  e.cache_read_tokens = json_count(*usage, "cache_read_input_tokens");
  if (auto c = j.find("costUSD"); c != j.end() && c->is_number()) e.cost_usd = c->get<double>();
  return e;
}

std::vector<fs::path> transcript_roots(const std::optional<std::string>& claude_config_dir,
                                       const fs::path& home) {
  std::vector<fs::path> candidates;
  if (claude_config_dir && !claude_config_dir->empty()) {
    std::stringstream list(*claude_config_dir);
    std::string dir;
    while (std::getline(list, dir, ',')) {
      dir.erase(0, dir.find_first_not_of(' '));
      while (!dir.empty() && dir.back() == ' ') dir.pop_back();
      if (!dir.empty()) candidates.push_back(fs::path(dir) / "projects");
    }
  } else {
    candidates = {home / ".config" / "claude" / "projects", home / ".claude" / "projects"};
  }
  std::vector<fs::path> out;
  std::error_code ec;
  for (auto& c : candidates) {
    if (fs::is_directory(c, ec)) out.push_back(std::move(c));
  }
  return out;
}

Result<TranscriptReader::Batch> TranscriptReader::read_new(const std::vector<fs::path>& roots) {
  Batch batch;
  for (const auto& root : roots) {
    std::error_code ec;
    std::vector<fs::path> files;
    for (fs::recursive_directory_iterator
             it(root, fs::directory_options::skip_permission_denied, ec),
         end;
         !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file(ec) && it->path().extension() == ".jsonl") files.push_back(*it);
    }
    if (ec) return make_error(errc::io, "cannot read " + root.string() + ": " + ec.message());
    std::sort(files.begin(), files.end());
    for (const auto& path : files) {
      struct stat st {};
      if (::stat(path.c_str(), &st) != 0) continue;  // gone meanwhile
      FileMark& mark = files_[path.string()];
      const auto size = static_cast<std::uintmax_t>(st.st_size);
      if (mark.inode != static_cast<std::uintmax_t>(st.st_ino) || size < mark.offset) {
        mark = FileMark{0, static_cast<std::uintmax_t>(st.st_ino)};
      }
      if (size == mark.offset) continue;
      std::ifstream in(path, std::ios::binary);
      if (!in) continue;
      in.seekg(static_cast<std::streamoff>(mark.offset));
      std::string chunk(size - mark.offset, '\0');
      in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
      chunk.resize(static_cast<std::size_t>(in.gcount()));
      // Only whole lines: a half line at the end is read next time.
      const auto last_newline = chunk.rfind('\n');
      if (last_newline == std::string::npos) continue;
      ++batch.files;
      std::string_view whole(chunk.data(), last_newline + 1);
      const std::uintmax_t base = mark.offset;
      mark.offset += whole.size();
      std::size_t start = 0;
      while (start < whole.size()) {
        auto end = whole.find('\n', start);
        std::string_view line = whole.substr(start, end - start);
        const std::uintmax_t line_offset = base + start;
        start = end + 1;
        if (line.empty()) continue;
        auto entry = parse_transcript_line(line);
        if (!entry) {
          if (json::accept(line) == false) ++batch.unreadable;
          continue;
        }
        const std::string key = dedup_key(*entry);
        if (!key.empty() && !seen_.insert(key).second) {
          ++batch.duplicates;
          continue;
        }
        entry->file = path;
        entry->offset = line_offset;
        batch.entries.push_back(std::move(*entry));
      }
    }
  }
  return batch;
}

std::string TranscriptReader::state() const {
  json files = json::object();
  for (const auto& [path, mark] : files_) files[path] = {mark.offset, mark.inode};
  return json{{"files", files}, {"seen", seen_}}.dump();
}

Result<void> TranscriptReader::restore(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(errc::bad_payload, "the transcript reader's state is not JSON");
  }
  try {
    std::map<std::string, FileMark> files;
    const json file_section = j.value("files", json::object());
    for (const auto& [path, mark] : file_section.items()) {
      files[path] = FileMark{mark.at(0).get<std::uintmax_t>(), mark.at(1).get<std::uintmax_t>()};
    }
    seen_ = j.value("seen", std::set<std::string>{});
    files_ = std::move(files);
  } catch (const json::exception& e) {
    return make_error(errc::bad_payload,
                      std::string("the transcript reader's state is malformed: ") + e.what());
  }
  return {};
}

std::map<std::string, DayTotals> daily_totals(const std::vector<TranscriptEntry>& entries) {
  // Saturating: a garbled line may claim the largest count (json_count clamps
  // there), and two of them must not overflow.
  auto add = [](std::int64_t& total, std::int64_t n) {
    if (__builtin_add_overflow(total, n, &total)) total = std::numeric_limits<std::int64_t>::max();
  };
  std::map<std::string, DayTotals> out;
  for (const auto& e : entries) {
    DayTotals& d = out[local_date(e.at)];
    add(d.input_tokens, e.input_tokens);
    add(d.output_tokens, e.output_tokens);
    add(d.cache_creation_tokens, e.cache_creation_tokens);
    add(d.cache_read_tokens, e.cache_read_tokens);
    if (!e.model.empty() && e.model != "<synthetic>") d.models.insert(e.model);
  }
  return out;
}

}  // namespace agency
