#include "runtime/config_reader.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <set>
#include <sstream>
#include <system_error>

namespace agency::config {
namespace {

namespace fs = std::filesystem;

std::optional<std::string> home_dir() {
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') return std::nullopt;
  return std::string(home);
}

}  // namespace

bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '-' || c == '_';
  });
}

std::string join(std::span<const std::string_view> words) {
  std::string out;
  for (auto w : words) {
    if (!out.empty()) out += ", ";
    out += w;
  }
  return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string describe(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "nothing";
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a map";
  return "'" + n.Scalar() + "'";
}

void Reader::fail(const Item& at, const std::string& what) const {
  // A scalar is pointed at where it is written; a section or a missing
  // value where its key is.
  YAML::Mark mark = YAML::Mark::null_mark();
  if (at.value.IsDefined() && at.value.IsScalar()) mark = at.value.Mark();
  if (mark.is_null() && at.key.IsDefined()) mark = at.key.Mark();
  if (mark.is_null() && at.value.IsDefined()) mark = at.value.Mark();
  std::string msg = label_;
  if (!mark.is_null()) msg += ":" + std::to_string(mark.line + 1);
  msg += ": ";
  if (!at.path.empty()) msg += at.path + ": ";
  msg += what;
  throw Failure{std::move(msg)};
}

std::string Reader::child(const std::string& parent, const std::string& key) const {
  return parent.empty() ? key : parent + "." + key;
}

// The entries of a map, in file order, after checking every key is known
// and appears once.
std::vector<Reader::Item> Reader::entries(const Item& map,
                                          std::span<const std::string_view> known) {
  std::vector<Item> out;
  std::set<std::string> seen;
  for (auto it = map.value.begin(); it != map.value.end(); ++it) {
    Item item{it->first, it->second, ""};
    if (!it->first.IsScalar()) {
      fail(Item{it->first, it->first, map.path},
           "a key must be a plain name, got " + describe(it->first));
    }
    const std::string& key = it->first.Scalar();
    item.path = child(map.path, key);
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      std::string what = "unknown key '" + key + "'";
      for (auto k : known) {
        if (edit_distance(key, k) <= 2) {
          what += " (did you mean '" + std::string(k) + "'?)";
          break;
        }
      }
      what += "; the known keys" + (map.path.empty() ? std::string() : " of " + map.path) +
              " are: " + join(known);
      fail(Item{it->first, YAML::Node(), map.path}, what);
    }
    if (!seen.insert(key).second) fail(Item{it->first, YAML::Node(), item.path}, "given twice");
    out.push_back(std::move(item));
  }
  return out;
}

// nullopt when the value is empty (`key:` or `key: ~`): the default holds.
std::optional<std::string> Reader::string_value(const Item& item, std::string_view expected) {
  if (item.value.IsNull()) return std::nullopt;
  if (!item.value.IsScalar()) {
    fail(item, "must be " + std::string(expected) + ", got " + describe(item.value));
  }
  return item.value.Scalar();
}

std::optional<int> Reader::int_value(const Item& item, int lo, int hi) {
  if (item.value.IsNull()) return std::nullopt;
  auto must = [&] {
    fail(item, "must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) +
                   ", got " + describe(item.value));
  };
  if (!item.value.IsScalar()) must();
  const std::string& s = item.value.Scalar();
  int n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || n < lo || n > hi) must();
  return n;
}

fs::path Reader::resolve(const std::string& p) const {
  fs::path path(p);
  if (p == "~" || p.rfind("~/", 0) == 0) {
    if (auto home = home_dir()) path = fs::path(*home + p.substr(1));
  }
  if (path.is_relative()) path = base_ / path;
  return path.lexically_normal();
}

// A binary named with a '/' is a path (relative to the file); a bare name
// is looked up on PATH when it runs.
std::string Reader::binary(const std::string& b) const {
  if (b.find('/') == std::string::npos) return b;
  return resolve(b).string();
}

// A section that must be a map of `keys` (null: all defaults).
bool Reader::section_map(const Item& section, std::span<const std::string_view> keys) {
  if (section.value.IsNull()) return false;
  if (!section.value.IsMap()) {
    fail(section, "must be a map with the keys " + join(keys) + ", got " + describe(section.value));
  }
  return true;
}

std::optional<double> Reader::number_value(const Item& item, double lo, double hi) {
  if (item.value.IsNull()) return std::nullopt;
  auto must = [&] {
    fail(item, "must be a number from " + format_number(lo) + " to " + format_number(hi) +
                   ", got " + describe(item.value));
  };
  if (!item.value.IsScalar()) must();
  const std::string& s = item.value.Scalar();
  double n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || n < lo || n > hi) must();
  return n;
}

std::string Reader::format_number(double d) {
  std::ostringstream out;
  out << d;
  return out.str();
}

std::optional<bool> Reader::bool_value(const Item& item) {
  if (item.value.IsNull()) return std::nullopt;
  const std::string v = item.value.IsScalar() ? item.value.Scalar() : std::string();
  if (v == "true" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "no" || v == "off") return false;
  fail(item, "must be true or false, got " + describe(item.value));
}

std::optional<std::int64_t> Reader::tokens_value(const Item& item) {
  if (item.value.IsNull()) return std::nullopt;
  auto must = [&] {
    fail(item, "must be a whole number of tokens (0 or more; 1_000_000 is written 1000000), got " +
                   describe(item.value));
  };
  if (!item.value.IsScalar()) must();
  const std::string& s = item.value.Scalar();
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || n < 0) must();
  return n;
}

// "HH:MM" as minutes after midnight, or nullopt.
std::optional<int> Reader::minute_of_day(std::string_view t) {
  auto colon = t.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 2 || t.size() - colon != 3) {
    return std::nullopt;
  }
  int h = 0;
  int m = 0;
  for (char ch : t.substr(0, colon)) {
    if (std::isdigit(static_cast<unsigned char>(ch)) == 0) return std::nullopt;
    h = h * 10 + (ch - '0');
  }
  for (char ch : t.substr(colon + 1)) {
    if (std::isdigit(static_cast<unsigned char>(ch)) == 0) return std::nullopt;
    m = m * 10 + (ch - '0');
  }
  if (h > 23 || m > 59) return std::nullopt;
  return h * 60 + m;
}

std::optional<int> Reader::weekday(std::string day) {
  static const std::array<std::string_view, 7> names = {"sun", "mon", "tue", "wed",
                                                        "thu", "fri", "sat"};
  for (auto& ch : day) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  for (int i = 0; i < 7; ++i) {
    if (day.size() >= 3 && day.compare(0, 3, names[static_cast<std::size_t>(i)]) == 0) return i;
  }
  return std::nullopt;
}

// Each entry of a list of maps, as an Item named path[i].
std::vector<Reader::Item> Reader::list_of_maps(const Item& section, std::string_view example) {
  std::vector<Item> out;
  if (section.value.IsNull()) return out;
  if (!section.value.IsSequence()) {
    fail(section, "must be a list (" + std::string(example) + "), got " + describe(section.value));
  }
  for (size_t i = 0; i < section.value.size(); ++i) {
    Item entry{YAML::Node(), section.value[i], section.path + "[" + std::to_string(i) + "]"};
    if (!entry.value.IsMap()) fail(entry, "must be a map, got " + describe(entry.value));
    out.push_back(entry);
  }
  return out;
}

std::string Reader::priority_value(const Item& item) {
  auto v = string_value(item, "a priority (interactive, scheduled, batch)");
  if (!v) return "scheduled";
  if (*v != "human" && *v != "interactive" && *v != "scheduled" && *v != "batch") {
    fail(item, "must be human, interactive, scheduled or batch, got " + *v);
  }
  return *v;
}

std::string Reader::name_value(const Item& item) {
  auto v = string_value(item, "a role name");
  if (!v || !is_token(*v)) fail(item, "must be a role name (letters, digits, '-', '_')");
  return *v;
}

// A list of strings ("args: [--verbose, -x]"); null is an empty list.
std::vector<std::string> Reader::strings(const Item& item, std::string_view example) {
  std::vector<std::string> out;
  if (item.value.IsNull()) return out;
  if (!item.value.IsSequence()) {
    fail(item, "must be a list (" + std::string(example) + "), got " + describe(item.value));
  }
  for (size_t i = 0; i < item.value.size(); ++i) {
    Item one{YAML::Node(), item.value[i], item.path + "[" + std::to_string(i) + "]"};
    if (!one.value.IsScalar()) fail(one, "must be a string, got " + describe(one.value));
    out.push_back(one.value.Scalar());
  }
  return out;
}

}  // namespace agency::config
