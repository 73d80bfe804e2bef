// Test repositories for the git and role tests: a real `git init` with one
// commit on main, made without any global git identity (CI machines have
// none).
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "runtime/git.hpp"

namespace agency::test {

inline const std::vector<std::pair<std::string, std::string>>& git_identity() {
  static const std::vector<std::pair<std::string, std::string>> env = {
      {"GIT_AUTHOR_NAME", "test"},
      {"GIT_AUTHOR_EMAIL", "test@example.invalid"},
      {"GIT_COMMITTER_NAME", "test"},
      {"GIT_COMMITTER_EMAIL", "test@example.invalid"}};
  return env;
}

// Runs git in dir; the test stops when it fails. Returns its output.
inline std::string git_in(const std::filesystem::path& dir, std::vector<std::string> args) {
  args.insert(args.begin(), "git");
  auto r = git::run(args, dir, std::chrono::seconds(60), git_identity());
  INFO("git output: " << r.output);
  REQUIRE(r.exit_code == 0);
  return r.output;
}

inline std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

inline void write_file(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A repository at `dir` with README.md committed on main.
inline void make_repo(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  git_in(dir, {"init", "--quiet", "-b", "main"});
  write_file(dir / "README.md", "# demo\n");
  git_in(dir, {"add", "-A"});
  git_in(dir, {"commit", "--quiet", "-m", "initial"});
}

}  // namespace agency::test
