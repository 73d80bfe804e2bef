// Finding the program a process will run: one lookup for the engines
// (runtime/process), the fleet's role binaries and children (cli/up,
// cli/supervisor), the embedded nats-server and `agency doctor`, so a name
// is found the same way everywhere.
//
// Thread: all functions are reentrant.
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace agency::program {

// A regular file this process may execute.
bool is_executable(const std::filesystem::path& p);

// This process's PATH, or "/usr/local/bin:/usr/bin:/bin" when it has none.
std::string search_path();

// `name` as execvp would find it: a name holding a '/' as it is, else the
// first executable `dir/name` for each directory of `path` (an empty entry
// is "."), then of `also` (directories searched after path, skipping those
// already in it). Every candidate tried goes to `searched` when given.
std::optional<std::filesystem::path> find(std::string_view name, std::string_view path,
                                          std::span<const std::string> also = {},
                                          std::vector<std::string>* searched = nullptr);

// find() on this process's search_path().
std::optional<std::filesystem::path> find(std::string_view name);

}  // namespace agency::program
