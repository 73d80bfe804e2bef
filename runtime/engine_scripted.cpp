// The scripted engine: deterministic outcomes from a scenario file, for tests
// and the offline demo (docs/ENGINES.md). It is no model and says so in its
// label, so nobody mistakes a demo run for real work.
//
// Thread: the scenario is read once by make_engine and never changed, so
// run() only reads shared state.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include "runtime/engine.hpp"
#include "runtime/process.hpp"
#include "runtime/yaml_error.hpp"

namespace agency {

namespace engine_detail {
std::string expand(std::string_view text, const std::map<std::string, std::string>& values);
std::map<std::string, std::string> placeholders(const Turn& turn);
std::uint32_t attempt_of(const Turn& turn);
}  // namespace engine_detail

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

struct FileWrite {
  std::string path;
  std::string content;
};

struct Step {
  std::string verdict = "pass";
  std::string summary;
  std::vector<std::string> findings;
  std::string spec;
  std::string text;
  std::vector<FileWrite> writes;
  std::int64_t sleep_ms = 0;
  bool hang = false;
  std::optional<std::string> error;
  std::optional<std::int64_t> rate_limit_seconds;
  // A shell command run in the work directory with the turn's environment
  // (`agency ask planner "..."` from inside a turn); its output joins the
  // answer, a non-zero exit fails the turn.
  std::string run;
  std::string confidence;           // written into the block (answers)
  std::vector<ProposedTask> tasks;  // written into the block (the scout)
};

using Scenario = std::map<std::string, std::vector<Step>>;

constexpr std::string_view kStepKeys =
    "verdict, summary, findings, spec, text, write, sleep_ms, hang, error, rate_limit_seconds, "
    "run, confidence, tasks";

// Without a scenario file every role passes: the planner writes a spec from
// the objective and the builder writes AGENCY_DEMO.md, so the offline demo
// shows a task travel the whole pipeline and leave a visible change.
constexpr std::string_view kDefaultScenario = R"yaml(
planner:
  - spec: |
      Scripted spec for {task_id} (written by the scripted engine, not a model).

      Objective: {objective}

      Done when: AGENCY_DEMO.md exists and holds the objective.
    summary: "wrote a spec for {task_id}"
builder:
  - write:
      path: AGENCY_DEMO.md
      content: |
        # {task_id}

        {objective}

        Written by agency's scripted engine (a deterministic demo, no model).
    summary: "added AGENCY_DEMO.md"
adversary:
  - summary: "scripted: no findings"
reviewer:
  - summary: "scripted: the change matches the spec"
question:
  - text: |
      Scripted answer (agency's scripted engine, no model) to: {objective}

      {context}
mail:
  - summary: "scripted: read the mail"
auditor:
  - text: |
      Scripted suggestions (agency's scripted engine, no model): a model reads
      the figures and findings above and suggests changes grounded in them.
    summary: "scripted: no model read the audit"
)yaml";

struct Failure {
  std::string message;
};

// A relative path that stays below the work directory: no "..", not
// absolute, not empty.
std::optional<std::string> bad_relative_path(const std::string& p) {
  if (p.empty()) return "is empty";
  fs::path path(p);
  if (path.is_absolute() || p.front() == '/' || p.front() == '~') {
    return "must be relative to the work directory, got '" + p + "'";
  }
  for (const auto& part : path) {
    if (part == "..") return "must stay inside the work directory (no '..'), got '" + p + "'";
  }
  return std::nullopt;
}

class ScenarioParser {
 public:
  explicit ScenarioParser(std::string label) : label_(std::move(label)) {}

  Scenario run(const YAML::Node& root) {
    Scenario s;
    if (!root.IsDefined() || root.IsNull()) return s;
    if (!root.IsMap()) {
      fail(root, "", "must be a map from role name to its steps (builder: [{verdict: pass}])");
    }
    for (auto it = root.begin(); it != root.end(); ++it) {
      if (!it->first.IsScalar() || it->first.Scalar().empty()) {
        fail(it->first, "", "role names must be plain names");
      }
      const std::string role = it->first.Scalar();
      if (s.count(role) != 0) fail(it->first, role, "given twice");
      std::vector<Step> steps;
      // A copy (a handle): it->second lives in a proxy that dies with the statement.
      const YAML::Node value = it->second;
      if (value.IsMap()) {
        steps.push_back(step(value, role));
      } else if (value.IsSequence() && value.size() > 0) {
        for (size_t i = 0; i < value.size(); ++i) {
          steps.push_back(step(value[i], role + "[" + std::to_string(i) + "]"));
        }
      } else {
        fail(value.IsNull() ? it->first : value, role,
             "must be a list of steps (- verdict: pass), at least one");
      }
      s.emplace(role, std::move(steps));
    }
    return s;
  }

 private:
  [[noreturn]] void fail(const YAML::Node& at, const std::string& path,
                         const std::string& what) const {
    std::string msg = label_;
    if (at.IsDefined() && !at.Mark().is_null()) msg += ":" + std::to_string(at.Mark().line + 1);
    msg += ": ";
    if (!path.empty()) msg += path + ": ";
    msg += what;
    throw Failure{std::move(msg)};
  }

  std::string text(const YAML::Node& n, const std::string& path) const {
    if (n.IsNull()) return "";
    if (!n.IsScalar()) fail(n, path, "must be text");
    return n.Scalar();
  }

  std::int64_t number(const YAML::Node& n, const std::string& path, std::int64_t hi) const {
    const std::string s = n.IsScalar() ? n.Scalar() : std::string();
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size() || v < 0 || v > hi) {
      fail(n, path, "must be a whole number from 0 to " + std::to_string(hi));
    }
    return v;
  }

  FileWrite file_write(const YAML::Node& n, const std::string& path) const {
    if (!n.IsMap()) fail(n, path, "must be a map {path: ..., content: ...}");
    FileWrite w;
    bool has_path = false;
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string key = it->first.IsScalar() ? it->first.Scalar() : std::string();
      if (key == "path") {
        w.path = text(it->second, path + ".path");
        if (auto bad = bad_relative_path(w.path)) fail(it->second, path + ".path", *bad);
        has_path = true;
      } else if (key == "content") {
        w.content = text(it->second, path + ".content");
      } else {
        fail(it->first, path, "unknown key '" + key + "'; the known keys are path, content");
      }
    }
    if (!has_path) fail(n, path, "needs a path");
    return w;
  }

  Step step(const YAML::Node& n, const std::string& path) const {
    if (!n.IsMap()) fail(n, path, "must be a map with the keys " + std::string(kStepKeys));
    Step st;
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string key = it->first.IsScalar() ? it->first.Scalar() : std::string();
      // A copy (a handle): it->second lives in a proxy that dies with the statement.
      const YAML::Node v = it->second;
      const std::string at = path + "." + key;
      if (key == "verdict") {
        st.verdict = text(v, at);
        if (st.verdict != "pass" && st.verdict != "fail" && st.verdict != "blocked") {
          fail(v, at, "must be pass, fail or blocked, got '" + st.verdict + "'");
        }
      } else if (key == "summary") {
        st.summary = text(v, at);
      } else if (key == "spec") {
        st.spec = text(v, at);
      } else if (key == "text") {
        st.text = text(v, at);
      } else if (key == "error") {
        st.error = text(v, at);
        if (st.error->empty()) fail(v, at, "must say what failed");
      } else if (key == "findings") {
        if (v.IsScalar()) {
          st.findings.push_back(v.Scalar());
        } else if (v.IsSequence()) {
          for (size_t i = 0; i < v.size(); ++i) {
            st.findings.push_back(text(v[i], at + "[" + std::to_string(i) + "]"));
          }
        } else if (!v.IsNull()) {
          fail(v, at, "must be a list of strings or one string");
        }
      } else if (key == "write") {
        if (v.IsSequence()) {
          for (size_t i = 0; i < v.size(); ++i) {
            st.writes.push_back(file_write(v[i], at + "[" + std::to_string(i) + "]"));
          }
        } else {
          st.writes.push_back(file_write(v, at));
        }
      } else if (key == "sleep_ms") {
        st.sleep_ms = number(v, at, 24LL * 3600 * 1000);
      } else if (key == "rate_limit_seconds") {
        st.rate_limit_seconds = number(v, at, 31LL * 24 * 3600);
      } else if (key == "run") {
        st.run = text(v, at);
        if (st.run.empty()) fail(v, at, "must be a shell command");
      } else if (key == "confidence") {
        st.confidence = text(v, at);
      } else if (key == "tasks") {
        if (!v.IsSequence()) {
          fail(v, at, "must be a list of {title, objective, done_when, spec, depends_on}");
        }
        for (size_t i = 0; i < v.size(); ++i) {
          const std::string ti = at + "[" + std::to_string(i) + "]";
          if (!v[i].IsMap()) {
            fail(v[i], ti, "must be a map {title, objective, done_when, spec, depends_on}");
          }
          ProposedTask t;
          for (auto f = v[i].begin(); f != v[i].end(); ++f) {
            const std::string name = f->first.IsScalar() ? f->first.Scalar() : std::string();
            if (name == "title") {
              t.title = text(f->second, ti + ".title");
            } else if (name == "objective") {
              t.objective = text(f->second, ti + ".objective");
            } else if (name == "done_when") {
              t.done_when = text(f->second, ti + ".done_when");
            } else if (name == "spec") {
              t.spec = text(f->second, ti + ".spec");
            } else if (name == "depends_on") {
              const YAML::Node& d = f->second;
              if (d.IsScalar()) {
                t.depends_on.push_back(d.Scalar());
              } else if (d.IsSequence()) {
                for (size_t k = 0; k < d.size(); ++k) {
                  t.depends_on.push_back(text(d[k], ti + ".depends_on[" + std::to_string(k) + "]"));
                }
              } else if (!d.IsNull()) {
                fail(d, ti + ".depends_on", "must be a list of sub-task numbers or titles");
              }
            } else {
              fail(f->first, ti,
                   "unknown key '" + name +
                       "'; a task has title, objective, done_when, spec, depends_on");
            }
          }
          if (t.title.empty()) fail(v[i], ti, "needs a title");
          st.tasks.push_back(std::move(t));
        }
      } else if (key == "hang") {
        bool b = false;
        if (!v.IsScalar() || !YAML::convert<bool>::decode(v, b)) {
          fail(v, at, "must be true or false");
        }
        st.hang = b;
      } else {
        fail(it->first, path,
             "unknown key '" + key + "'; the known keys are " + std::string(kStepKeys));
      }
    }
    return st;
  }

  std::string label_;
};

Result<Scenario> parse_scenario(const std::string& yaml, const std::string& label) {
  try {
    return ScenarioParser(label).run(YAML::Load(yaml));
  } catch (const Failure& f) {
    return make_error(errc::config, f.message);
  } catch (const YAML::Exception& e) {
    return yaml_syntax_error(label, e);
  }
}

// The ```agency block for a step, emitted with yaml-cpp so that any text
// (colons, quotes, a "```" inside the spec) survives the round trip.
std::string render_block(const std::string& verdict, const std::string& summary,
                         const std::vector<std::string>& findings, const std::string& spec,
                         const std::string& confidence, const std::vector<ProposedTask>& tasks) {
  auto style = [](YAML::Emitter& e, const std::string& s) {
    // Literal style reads best for multi-line text, but yaml-cpp writes it
    // only as "|" (one final line break kept) and without an indentation
    // indicator: anything else goes in quotes to survive the round trip.
    const bool literal = s.size() >= 2 && s.back() == '\n' && s[s.size() - 2] != '\n' &&
                         s.front() != ' ' && s.front() != '\t';
    if (literal) {
      e << YAML::Literal << s;
    } else {
      e << YAML::DoubleQuoted << s;
    }
  };
  YAML::Emitter e;
  e << YAML::BeginMap;
  e << YAML::Key << "verdict" << YAML::Value << verdict;
  if (!summary.empty()) {
    e << YAML::Key << "summary" << YAML::Value;
    style(e, summary);
  }
  if (!findings.empty()) {
    e << YAML::Key << "findings" << YAML::Value << YAML::BeginSeq;
    for (const auto& f : findings) style(e, f);
    e << YAML::EndSeq;
  }
  if (!spec.empty()) {
    e << YAML::Key << "spec" << YAML::Value;
    style(e, spec);
  }
  if (!confidence.empty()) e << YAML::Key << "confidence" << YAML::Value << confidence;
  if (!tasks.empty()) {
    e << YAML::Key << "tasks" << YAML::Value << YAML::BeginSeq;
    for (const auto& t : tasks) {
      e << YAML::BeginMap;
      e << YAML::Key << "title" << YAML::Value;
      style(e, t.title);
      if (!t.objective.empty()) {
        e << YAML::Key << "objective" << YAML::Value;
        style(e, t.objective);
      }
      if (!t.done_when.empty()) {
        e << YAML::Key << "done_when" << YAML::Value;
        style(e, t.done_when);
      }
      if (!t.spec.empty()) {
        e << YAML::Key << "spec" << YAML::Value;
        style(e, t.spec);
      }
      if (!t.depends_on.empty()) {
        e << YAML::Key << "depends_on" << YAML::Value << YAML::BeginSeq;
        for (const auto& d : t.depends_on) style(e, d);
        e << YAML::EndSeq;
      }
      e << YAML::EndMap;
    }
    e << YAML::EndSeq;
  }
  e << YAML::EndMap;
  return "```agency\n" + std::string(e.c_str()) + "\n```\n";
}

// Waits `ms`, or until cancel is set; true when it was cancelled.
bool wait_cancellable(std::chrono::milliseconds ms, const std::atomic<bool>& cancel) {
  const auto until = Clock::now() + ms;
  while (Clock::now() < until) {
    if (cancel.load()) return true;
    std::this_thread::sleep_for(
        std::min<Clock::duration>(std::chrono::milliseconds(10), until - Clock::now()));
  }
  return cancel.load();
}

class ScriptedEngine final : public Engine {
 public:
  ScriptedEngine(Scenario scenario, Scenario defaults, fs::path source)
      : scenario_(std::move(scenario)),
        defaults_(std::move(defaults)),
        source_(std::move(source)) {}

  [[nodiscard]] std::string kind() const override { return "scripted"; }

  [[nodiscard]] std::string label() const override {
    std::string l = "scripted (deterministic demo engine, no model)";
    if (!source_.empty()) l += ": " + source_.filename().string();
    return l;
  }

  Result<Outcome> run(const Turn& turn, const ProgressFn& progress,
                      const std::atomic<bool>& cancel) override {
    const auto started = Clock::now();
    auto say = [&](const std::string& msg) {
      if (progress) progress(msg);
    };
    const auto values = engine_detail::placeholders(turn);
    auto x = [&](const std::string& s) { return engine_detail::expand(s, values); };

    const std::vector<Step>& steps = steps_for(turn);
    const std::uint32_t attempt = engine_detail::attempt_of(turn);
    const size_t index = std::min<size_t>(attempt - 1, steps.size() - 1);
    const Step& step = steps[index];
    say("scripted: " + turn.role + " step " + std::to_string(index + 1) + " of " +
        std::to_string(steps.size()) + " (attempt " + std::to_string(attempt) + ")");

    if (step.sleep_ms > 0) {
      say("scripted: sleeping " + std::to_string(step.sleep_ms) + " ms");
      if (wait_cancellable(std::chrono::milliseconds(step.sleep_ms), cancel)) {
        return make_error(errc::io, "cancelled");
      }
    }
    if (step.hang) {
      say("scripted: hanging until cancelled");
      while (!cancel.load()) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      return make_error(errc::io, "cancelled");
    }
    if (step.error) return make_error(errc::io, x(*step.error));

    Outcome out;
    out.model = "scripted";
    if (step.rate_limit_seconds) {
      const auto secs = *step.rate_limit_seconds;
      say("scripted: refusing with a rate limit for " + std::to_string(secs) + " s");
      out.rate_limit = RateLimit{std::chrono::system_clock::now() + std::chrono::seconds(secs),
                                 "scripted rate limit: retry in " + std::to_string(secs) + " s"};
      out.text = "scripted: rate limited for " + std::to_string(secs) + " s";
      out.duration = elapsed(started);
      return out;
    }

    for (const auto& w : step.writes) {
      const std::string rel = x(w.path);
      say("scripted: writing " + rel);
      if (auto r = write_file(turn.workdir, rel, x(w.content)); !r) return r.error();
    }
    std::string ran;
    if (!step.run.empty()) {
      const std::string command = x(step.run);
      say("scripted: running " + command);
      ProcessSpec spec;
      spec.argv = {"/bin/sh", "-c", command};
      spec.env = child_environment({}, turn.env);
      spec.workdir = turn.workdir;
      spec.merge_stderr = true;
      spec.max_output = 64 * 1024;
      auto r = run_process(spec, {}, cancel);
      if (!r) return r.error();
      if (r->end != ProcessEnd::exited || r->exit_code() != 0) {
        return make_error(errc::io, "scripted: `" + command + "` " + r->describe("sh") +
                                        (r->stdout_text.empty() ? "" : ": " + r->stdout_text));
      }
      ran = r->stdout_text;
    }

    out.block.verdict = step.verdict;
    out.block.summary = x(step.summary);
    for (const auto& f : step.findings) out.block.findings.push_back(x(f));
    out.block.spec = x(step.spec);
    out.has_block = true;
    out.verdict = out.block.verdict;
    for (const auto& t : step.tasks) {
      ProposedTask p{x(t.title), x(t.objective), x(t.done_when), x(t.spec), {}};
      for (const auto& d : t.depends_on) p.depends_on.push_back(x(d));
      out.block.tasks.push_back(std::move(p));
    }
    if (!step.confidence.empty()) out.block.fields["confidence"] = x(step.confidence);
    std::string text = x(step.text) + ran;
    if (!text.empty() && text.back() != '\n') text += '\n';
    if (!text.empty()) text += '\n';
    text +=
        render_block(out.block.verdict, out.block.summary, out.block.findings, out.block.spec,
                     step.confidence.empty() ? std::string() : x(step.confidence), out.block.tasks);
    out.text = std::move(text);
    // Fake but deterministic figures, so usage accounting has something to
    // count in tests and the demo; the cost is zero because nothing was paid.
    out.usage.input_tokens = static_cast<std::int64_t>(turn.prompt.size() / 4);
    out.usage.output_tokens = static_cast<std::int64_t>(out.text.size() / 4);
    out.duration = elapsed(started);
    return out;
  }

 private:
  static std::chrono::milliseconds elapsed(Clock::time_point since) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since);
  }

  // The scenario's steps for the role; a role it does not name behaves as
  // in the built-in scenario, and a role neither names simply passes.
  // Questions and mail use "<role>.question" / "<role>.mail", else the
  // built-in "question" / "mail" steps.
  const std::vector<Step>& steps_for(const Turn& turn) const {
    if (turn.kind != "brief" && !turn.kind.empty()) {
      const std::string key = turn.role + "." + turn.kind;
      if (auto it = scenario_.find(key); it != scenario_.end()) return it->second;
      if (auto it = scenario_.find(turn.kind); it != scenario_.end()) return it->second;
      if (auto it = defaults_.find(turn.kind); it != defaults_.end()) return it->second;
    }
    const std::string& role = turn.role;
    if (auto it = scenario_.find(role); it != scenario_.end()) return it->second;
    if (auto it = defaults_.find(role); it != defaults_.end()) return it->second;
    static const std::vector<Step> kPass = {Step{}};
    return kPass;
  }

  static Result<void> write_file(const fs::path& workdir, const std::string& rel,
                                 const std::string& content) {
    // Checked again after placeholders: a task id could carry "..".
    if (auto bad = bad_relative_path(rel)) {
      return make_error(errc::io, "scripted: write path " + *bad);
    }
    if (workdir.empty()) {
      return make_error(errc::io, "scripted: cannot write " + rel +
                                      ": the turn has no work "
                                      "directory");
    }
    std::error_code ec;
    const fs::path root = fs::weakly_canonical(workdir, ec);
    if (ec || !fs::is_directory(root, ec)) {
      return make_error(errc::io,
                        "scripted: the work directory " + workdir.string() + " does not exist");
    }
    const fs::path target = root / rel;
    fs::create_directories(target.parent_path(), ec);
    if (ec) {
      return make_error(errc::io, "scripted: cannot create " + target.parent_path().string() +
                                      ": " + ec.message());
    }
    // A symbolic link inside the work directory must not lead out of it.
    const fs::path real = fs::weakly_canonical(target, ec);
    auto [r_end, t_it] = std::mismatch(root.begin(), root.end(), real.begin(), real.end());
    (void)t_it;
    if (ec || r_end != root.end()) {
      return make_error(errc::io,
                        "scripted: write path '" + rel + "' leads outside the work directory");
    }
    std::ofstream f(real, std::ios::binary | std::ios::trunc);
    f << content;
    f.close();
    if (!f) return make_error(errc::io, "scripted: cannot write " + real.string());
    return {};
  }

  Scenario scenario_;
  Scenario defaults_;
  fs::path source_;
};

}  // namespace

namespace engine_detail {

Result<std::unique_ptr<Engine>> make_scripted(const EngineConfig& config) {
  auto defaults = parse_scenario(std::string(kDefaultScenario), "built-in scenario");
  if (!defaults) return make_error(errc::internal, defaults.error().message);
  Scenario scenario;
  if (!config.scenario.empty()) {
    std::ifstream in(config.scenario, std::ios::binary);
    std::error_code ec;
    if (!in || fs::is_directory(config.scenario, ec)) {
      return make_error(errc::config, config.scenario.string() +
                                          ": cannot read the scenario file of the scripted "
                                          "engine (does it exist?)");
    }
    std::ostringstream text;
    text << in.rdbuf();
    auto parsed = parse_scenario(text.str(), config.scenario.string());
    if (!parsed) return parsed.error();
    scenario = std::move(*parsed);
  }
  return std::unique_ptr<Engine>(
      std::make_unique<ScriptedEngine>(std::move(scenario), std::move(*defaults), config.scenario));
}

}  // namespace engine_detail

}  // namespace agency
