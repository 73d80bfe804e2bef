// Finding a program as execvp would: one lookup for engines, role binaries,
// the fleet's children and the embedded nats-server.
#include "bus/program.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include "tests/support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
namespace program = agency::program;

fs::path write_file(const fs::path& p, bool executable) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << "#!/bin/sh\n";
  ::chmod(p.c_str(), executable ? 0755 : 0644);
  return p;
}

}  // namespace

TEST_CASE("program: found on the path in order, then in the extra directories") {
  agency::test::TempDir dir;
  const auto a = dir.path() / "a";
  const auto b = dir.path() / "b";
  const auto sbin = dir.path() / "sbin";
  write_file(a / "tool", false);  // not executable: skipped
  const auto in_b = write_file(b / "tool", true);
  const auto only_sbin = write_file(sbin / "server", true);
  const std::string path = a.string() + ":" + b.string();

  auto found = program::find("tool", path);
  REQUIRE(found);
  CHECK(*found == in_b);
  CHECK_FALSE(program::find("server", path));
  const std::vector<std::string> also{sbin.string(), b.string()};
  std::vector<std::string> searched;
  found = program::find("server", path, also, &searched);
  REQUIRE(found);
  CHECK(*found == only_sbin);
  // b is searched once, from the path; sbin after it.
  CHECK(searched == std::vector<std::string>{(a / "server").string(), (b / "server").string(),
                                             (sbin / "server").string()});
}

TEST_CASE(
    "program: a name with a slash is taken as it is, and an empty entry is the current directory") {
  agency::test::TempDir dir;
  const auto tool = write_file(dir.path() / "bin" / "tool", true);
  CHECK(program::find(tool.string(), "") == tool);
  CHECK_FALSE(program::find((dir.path() / "bin" / "missing").string(), "/usr/bin"));
  CHECK_FALSE(program::find("", "/usr/bin"));
  const auto cwd = fs::current_path();
  fs::current_path(dir.path() / "bin");
  auto found = program::find("tool", "/nonexistent:");
  fs::current_path(cwd);
  REQUIRE(found);
  CHECK(*found == fs::path(".") / "tool");
  CHECK(program::is_executable(tool));
  CHECK_FALSE(program::is_executable(dir.path() / "bin"));
}
