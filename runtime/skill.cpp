#include "runtime/skill.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <system_error>

#include "bus/vocabulary.hpp"

namespace agency {
namespace {

// A role name becomes a subject token, a binary name (agency-<name>) and a
// folder, so it is held to the strictest of the three.
bool is_role_name(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '-' || c == '_';
  });
}

// The line starting at `pos` without its end of line ('\n' or "\r\n").
std::string_view line_at(std::string_view text, std::size_t pos, std::size_t& next) {
  auto end = text.find('\n', pos);
  next = end == std::string_view::npos ? text.size() : end + 1;
  auto line = text.substr(pos, (end == std::string_view::npos ? text.size() : end) - pos);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

bool is_fence(std::string_view line) {
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
  return line == "---";
}

Error fail(const std::filesystem::path& source, const std::string& what) {
  std::string where = source.empty() ? std::string("SKILL.md") : source.string();
  return make_error(errc::config, where + ": " + what);
}

}  // namespace

Result<Skill> parse_skill(std::string_view text, const std::filesystem::path& source) {
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // a BOM some editors write

  std::size_t pos = 0;
  std::size_t next = 0;
  if (!is_fence(line_at(text, pos, next))) {
    return fail(source,
                "no front matter: the file must start with a line '---', then YAML with at "
                "least 'name:', then another '---' line, then the role's brief");
  }
  const std::size_t yaml_begin = next;
  std::size_t yaml_end = std::string_view::npos;
  pos = next;
  while (pos < text.size()) {
    if (is_fence(line_at(text, pos, next))) {
      yaml_end = pos;
      break;
    }
    pos = next;
  }
  if (yaml_end == std::string_view::npos) {
    return fail(source, "the front matter is not closed: add a line '---' after its last key");
  }

  Skill skill;
  skill.source = source;
  std::string_view body = text.substr(next);
  // The body starts after the blank lines that usually follow the fence.
  while (!body.empty() && (body.front() == '\n' || body.front() == '\r')) body.remove_prefix(1);
  skill.body = std::string(body);

  YAML::Node root;
  try {
    root = YAML::Load(std::string(text.substr(yaml_begin, yaml_end - yaml_begin)));
  } catch (const YAML::Exception& e) {
    // The mark counts from the front matter; the file has the fence line first.
    return fail(source,
                "front matter line " + std::to_string(e.mark.line + 2) + ": bad YAML: " + e.msg);
  }
  if (!root.IsDefined() || root.IsNull()) {
    return fail(source, "the front matter is empty: it needs at least 'name: <role>'");
  }
  if (!root.IsMap()) {
    return fail(source, "the front matter must be a map of keys (name: ..., description: ...)");
  }

  try {
    for (auto it = root.begin(); it != root.end(); ++it) {
      if (!it->first.IsScalar()) return fail(source, "front matter keys must be plain words");
      const std::string key = it->first.Scalar();
      // A copy (a handle): it->second lives in a proxy that dies with the statement.
      const YAML::Node value = it->second;
      std::string text_value;
      if (value.IsScalar()) {
        text_value = value.Scalar();
      } else if (value.IsNull()) {
        text_value.clear();
      } else {
        // Lists and maps under other keys are kept as their YAML text, for
        // roles that read them; the known keys must be single values.
        YAML::Emitter out;
        out << value;
        text_value = out.c_str();
      }
      const bool known = key == "name" || key == "description" || key == "consumes" ||
                         key == "produces" || key == "engine" || key == "priority";
      if (known && !value.IsScalar() && !value.IsNull()) {
        return fail(source, "front matter key '" + key + "' must be a single value, not a " +
                                (value.IsSequence() ? "list" : "map"));
      }
      if (key == "name") {
        skill.name = text_value;
      } else if (key == "description") {
        skill.description = text_value;
      } else if (key == "consumes") {
        skill.consumes = text_value;
      } else if (key == "produces") {
        skill.produces = text_value;
      } else if (key == "engine") {
        skill.engine = text_value;
      } else if (key == "priority") {
        skill.priority = text_value;
      } else {
        skill.extra[key] = text_value;
      }
    }
  } catch (const YAML::Exception& e) {
    return fail(source, "bad front matter: " + e.msg);
  }

  if (skill.name.empty()) {
    return fail(source, "the front matter has no 'name:' (the role's name, e.g. 'name: planner')");
  }
  if (!is_role_name(skill.name)) {
    return fail(source, "name '" + skill.name +
                            "' is not a valid role name: use letters, digits, '-' and '_' only");
  }
  if (!skill.priority.empty() && !vocabulary::is_priority(skill.priority)) {
    return fail(source, "priority '" + skill.priority + "' is not one of " +
                            vocabulary::join(vocabulary::kPriorities));
  }
  return skill;
}

Result<Skill> load_skill(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return make_error(errc::config, path.string() +
                                        ": no such SKILL.md (give the role's skill file with "
                                        "--skill PATH or roles.<name>.skill in agency.yaml)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(errc::config, path.string() + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return parse_skill(text.str(), path);
}

}  // namespace agency
