#include "bus/program.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>

namespace agency::program {

namespace fs = std::filesystem;

bool is_executable(const fs::path& p) {
  std::error_code ec;
  return fs::is_regular_file(p, ec) && ::access(p.c_str(), X_OK) == 0;
}

std::string search_path() {
  const char* path = std::getenv("PATH");
  return path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
}

std::optional<fs::path> find(std::string_view name, std::string_view path,
                             std::span<const std::string> also,
                             std::vector<std::string>* searched) {
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string_view::npos) {
    if (searched != nullptr) searched->emplace_back(name);
    return is_executable(name) ? std::optional<fs::path>(name) : std::nullopt;
  }
  std::vector<std::string> dirs;
  while (true) {
    const auto colon = path.find(':');
    const std::string_view dir = path.substr(0, colon);
    dirs.emplace_back(dir.empty() ? "." : dir);
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  for (const auto& dir : also) {
    if (std::find(dirs.begin(), dirs.end(), dir) == dirs.end()) dirs.push_back(dir);
  }
  for (const auto& dir : dirs) {
    fs::path candidate = fs::path(dir) / name;
    if (searched != nullptr) searched->push_back(candidate.string());
    if (is_executable(candidate)) return candidate;
  }
  return std::nullopt;
}

std::optional<fs::path> find(std::string_view name) { return find(name, search_path()); }

}  // namespace agency::program
