// The ```agency block an engine ends its answer with (docs/OUTCOME.md).
//
// Fences are matched line by line: an opening line "```agency" and a
// closing line "```" with the same indentation. Requiring the same
// indentation keeps a "```" inside an indented YAML value (a spec quoting
// code) from closing the block early.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/engine.hpp"

namespace agency {

namespace {

struct Line {
  std::string_view text;  // without the line break (and a trailing '\r')
  size_t number = 0;      // 1-based, in the whole answer
};

std::vector<Line> split_lines(std::string_view text) {
  std::vector<Line> lines;
  size_t number = 1;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(Line{line, number++});
    if (end == text.size()) break;
    start = end + 1;
  }
  return lines;
}

std::string_view trim_right(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.remove_suffix(1);
  return s;
}

size_t indent_of(std::string_view s) {
  size_t n = 0;
  while (n < s.size() && (s[n] == ' ' || s[n] == '\t')) ++n;
  return n;
}

// "```agency" (trailing blanks allowed) at any indentation: the indentation.
std::optional<size_t> opening_indent(std::string_view line) {
  line = trim_right(line);
  size_t indent = indent_of(line);
  if (line.substr(indent) == "```agency") return indent;
  return std::nullopt;
}

bool is_closing(std::string_view line, size_t indent) {
  line = trim_right(line);
  return indent_of(line) == indent && line.substr(indent) == "```";
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string trim(const std::string& s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b])) != 0) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1])) != 0) --e;
  return s.substr(b, e - b);
}

std::string kind_of(const YAML::Node& n) {
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a map";
  return "'" + n.Scalar() + "'";
}

Error malformed(size_t line, const std::string& what) {
  return make_error(errc::bad_payload,
                    "the ```agency block (line " + std::to_string(line) + ") " + what);
}

// Body of the block: the YAML between the fences, with the fence's
// indentation removed from every line.
struct Body {
  std::string yaml;
  size_t first_line = 0;  // line number of the opening fence
};

Result<std::optional<Body>> last_block(std::string_view text) {
  auto lines = split_lines(text);
  std::optional<Body> found;
  for (size_t i = 0; i < lines.size(); ++i) {
    auto indent = opening_indent(lines[i].text);
    if (!indent) continue;
    size_t j = i + 1;
    while (j < lines.size() && !is_closing(lines[j].text, *indent)) ++j;
    if (j == lines.size()) {
      return malformed(lines[i].number,
                       "is never closed: end it with a line holding only ``` (at the same "
                       "indentation as ```agency)");
    }
    Body body{"", lines[i].number};
    for (size_t k = i + 1; k < j; ++k) {
      std::string_view l = lines[k].text;
      l.remove_prefix(std::min(indent_of(l), *indent));
      body.yaml.append(l);
      body.yaml.push_back('\n');
    }
    found = std::move(body);
    i = j;
  }
  return found;
}

}  // namespace

Result<std::optional<OutcomeBlock>> parse_outcome_block(std::string_view text) {
  auto body = last_block(text);
  if (!body) return body.error();
  if (!*body) return std::optional<OutcomeBlock>();
  const size_t at = (*body)->first_line;

  YAML::Node root;
  try {
    root = YAML::Load((*body)->yaml);
  } catch (const YAML::Exception& e) {
    std::string where;
    if (!e.mark.is_null()) where = " at line " + std::to_string(at + 1 + e.mark.line);
    return malformed(at, "is not valid YAML" + where + ": " + e.msg +
                             " (quote values that contain ': ' or start with a special "
                             "character)");
  }
  if (!root.IsDefined() || root.IsNull()) {
    return malformed(at, "is empty: it needs at least 'verdict: pass', 'fail' or 'blocked'");
  }
  if (!root.IsMap()) {
    return malformed(at,
                     "must be a map of keys (verdict: pass, summary: ...), got " + kind_of(root));
  }

  OutcomeBlock block;
  bool has_verdict = false;
  try {
    for (auto it = root.begin(); it != root.end(); ++it) {
      if (!it->first.IsScalar()) {
        return malformed(at, "has a key that is not a plain name: " + kind_of(it->first));
      }
      const std::string key = it->first.Scalar();
      // A copy (a handle): it->second lives in a proxy that dies with the statement.
      const YAML::Node value = it->second;
      auto scalar = [&](std::string& out) -> Result<void> {
        if (value.IsNull()) return {};
        if (!value.IsScalar()) {
          return malformed(at, "has '" + key + "' that must be text, got " + kind_of(value));
        }
        out = value.Scalar();
        return {};
      };
      if (key == "verdict") {
        std::string v;
        if (auto r = scalar(v); !r) return r.error();
        v = lower(trim(v));
        if (v.empty()) {
          return malformed(at, "has an empty verdict: it must be pass, fail or blocked");
        }
        if (v != "pass" && v != "fail" && v != "blocked") {
          return malformed(at, "has verdict '" + v + "': it must be pass, fail or blocked");
        }
        block.verdict = v;
        has_verdict = true;
      } else if (key == "summary") {
        if (auto r = scalar(block.summary); !r) return r.error();
      } else if (key == "spec") {
        if (auto r = scalar(block.spec); !r) return r.error();
      } else if (key == "findings") {
        if (value.IsNull()) continue;
        if (value.IsScalar()) {
          if (!trim(value.Scalar()).empty()) block.findings.push_back(value.Scalar());
        } else if (value.IsSequence()) {
          for (size_t i = 0; i < value.size(); ++i) {
            if (!value[i].IsScalar()) {
              return malformed(at, "has findings[" + std::to_string(i) +
                                       "] that is not text (got " + kind_of(value[i]) +
                                       "): write each finding as one string");
            }
            block.findings.push_back(value[i].Scalar());
          }
        } else {
          return malformed(at,
                           "has findings that must be a list of strings (or one string), "
                           "got a map");
        }
      } else if (key == "tasks") {
        if (value.IsNull()) continue;
        if (!value.IsSequence()) {
          return malformed(at,
                           "has tasks that must be a list of maps (- title: ..., objective: "
                           "...), got " +
                               kind_of(value));
        }
        for (size_t i = 0; i < value.size(); ++i) {
          const YAML::Node& t = value[i];
          const std::string where = "tasks[" + std::to_string(i) + "]";
          if (!t.IsMap()) {
            return malformed(at, "has " + where +
                                     " that is not a map (title, objective, "
                                     "done_when), got " +
                                     kind_of(t));
          }
          ProposedTask task;
          for (auto f = t.begin(); f != t.end(); ++f) {
            const std::string name = f->first.IsScalar() ? f->first.Scalar() : std::string();
            if (name == "depends_on") {
              // One dependency, or a list of them: numbers or titles.
              if (f->second.IsNull()) continue;
              if (f->second.IsScalar()) {
                task.depends_on.push_back(trim(f->second.Scalar()));
                continue;
              }
              if (!f->second.IsSequence()) {
                return malformed(at, "has " + where +
                                         ".depends_on that must be a list of sub-task numbers "
                                         "or titles");
              }
              for (size_t k = 0; k < f->second.size(); ++k) {
                if (!f->second[k].IsScalar()) {
                  return malformed(at, "has " + where + ".depends_on[" + std::to_string(k) +
                                           "] that is not a number or a title");
                }
                task.depends_on.push_back(trim(f->second[k].Scalar()));
              }
              continue;
            }
            if (!f->second.IsNull() && !f->second.IsScalar()) {
              return malformed(at, "has " + where + "." + name + " that must be text");
            }
            const std::string v = f->second.IsNull() ? std::string() : f->second.Scalar();
            if (name == "title") {
              task.title = trim(v);
            } else if (name == "objective") {
              task.objective = v;
            } else if (name == "done_when") {
              task.done_when = v;
            } else if (name == "spec") {
              task.spec = v;
            } else {
              return malformed(at, "has " + where + " with the unknown key '" + name +
                                       "'; a task has title, objective, done_when, spec and "
                                       "depends_on");
            }
          }
          if (task.title.empty()) return malformed(at, "has " + where + " without a title");
          block.tasks.push_back(std::move(task));
        }
      } else if (value.IsScalar()) {
        block.fields[key] = value.Scalar();
      } else if (value.IsNull()) {
        block.fields[key] = "";
      }
      // Other lists and maps are not part of the contract: ignored.
    }
  } catch (const YAML::Exception& e) {
    return malformed(at, std::string("could not be read: ") + e.msg);
  }
  if (!has_verdict) {
    return malformed(at,
                     "has no verdict: add 'verdict: pass', 'verdict: fail' or "
                     "'verdict: blocked'");
  }
  return std::optional<OutcomeBlock>(std::move(block));
}

}  // namespace agency
