// Reading agency.yaml one section at a time, with the errors every section
// gives: the file and line, the key's path, what was expected and what was
// found, and "did you mean" for a misspelt key. runtime/config.cpp reads the
// runtime's sections with it; a role reads its own section with it
// (roles/<name>/settings.cpp, registered in the role's catalog entry).
//
// The first problem ends the reading: fail() throws Reader::Failure, which
// config::parse() turns into an errc::config error. A section reader never
// catches it.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace agency::config {

class Reader {
 public:
  // One value of the document with what is needed to point at it in an
  // error.
  struct Item {
    YAML::Node key;  // undefined for list entries and the document itself
    YAML::Node value;
    std::string path;  // "roles.builder.count", "projects[0].repo"
  };
  // The first problem found; config::parse() turns it into an Error.
  struct Failure {
    std::string message;
  };

  // `label` names the file in errors; relative paths resolve against `base`.
  Reader(std::string label, std::filesystem::path base)
      : label_(std::move(label)), base_(std::move(base)) {}

  // "agency.yaml:7: roles.builder.count: <what>".
  [[noreturn]] void fail(const Item& at, const std::string& what) const;

  // The entries of a map, in file order, after checking every key is known
  // and appears once.
  std::vector<Item> entries(const Item& map, std::span<const std::string_view> known);
  // A section that must be a map of `keys`; false when it is empty (all
  // defaults).
  bool section_map(const Item& section, std::span<const std::string_view> keys);
  // Each entry of a list of maps, as an Item named path[i].
  std::vector<Item> list_of_maps(const Item& section, std::string_view example);

  // Values. nullopt when the value is empty (`key:` or `key: ~`): the
  // default holds.
  std::optional<std::string> string_value(const Item& item, std::string_view expected);
  std::optional<int> int_value(const Item& item, int lo, int hi);
  std::optional<double> number_value(const Item& item, double lo, double hi);
  std::optional<bool> bool_value(const Item& item);
  std::optional<std::int64_t> tokens_value(const Item& item);  // 0 or more
  // human, interactive, scheduled or batch; empty: scheduled.
  std::string priority_value(const Item& item);
  // A name usable as a subject token (letters, digits, '-', '_').
  std::string name_value(const Item& item);
  // A list of strings ("args: [--verbose, -x]"); null is an empty list.
  std::vector<std::string> strings(const Item& item, std::string_view example);

  // A path relative to the file (~ is the home directory).
  [[nodiscard]] std::filesystem::path resolve(const std::string& p) const;
  // A program: a name with a '/' is a path relative to the file; a bare
  // name is looked up on PATH when it runs.
  [[nodiscard]] std::string binary(const std::string& b) const;
  [[nodiscard]] const std::filesystem::path& base() const { return base_; }

  // "HH:MM" as minutes after midnight; "mon", "Tuesday" as 0 (Sunday) to 6.
  static std::optional<int> minute_of_day(std::string_view t);
  static std::optional<int> weekday(std::string day);

 protected:
  [[nodiscard]] std::string child(const std::string& parent, const std::string& key) const;
  static std::string format_number(double d);

  std::string label_;
  std::filesystem::path base_;
};

// Letters, digits, '-' and '_': safe in a subject and a file name.
bool is_token(std::string_view s);
// "a, b, c".
std::string join(std::span<const std::string_view> words);
// Edits between two words: a key within two of a known one was meant to be it.
std::size_t edit_distance(std::string_view a, std::string_view b);
// How a value reads in an error: "nothing", "a list", "a map", "'text'".
std::string describe(const YAML::Node& n);

}  // namespace agency::config
