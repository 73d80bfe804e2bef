// agency ask and agency mail: the lateral paths of the mesh, for a person at
// a terminal and for an engine inside a task's worktree (the runtime puts
// `agency` on its PATH and sets AGENCY_AGENT_ID, AGENCY_ROLE, AGENCY_TASK_ID
// and NATS_URL, so an engine asks and writes as the agent it works for).
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "agency/v1/ask.pb.h"
#include "bus/clock.hpp"
#include "bus/codec.hpp"
#include "bus/kv.hpp"
#include "bus/subjects.hpp"
#include "bus/text.hpp"
#include "bus/vocabulary.hpp"
#include "cli/cli.hpp"
#include "runtime/catalog.hpp"
#include "runtime/ids.hpp"
#include "runtime/mesh.hpp"

namespace agency::cli {
namespace {

using json = nlohmann::json;

// An environment variable, or "" when unset.
std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

std::string join_words(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

std::string first_line(const std::string& text) {
  const auto end = text.find('\n');
  return end == std::string::npos ? text : text.substr(0, end);
}

// ---- ask ----------------------------------------------------------------

struct AskOptions {
  std::string role;  // empty: the catalog's question role (the knowledge proxy)
  std::vector<std::string> words;
  std::string task;
  std::string context;
  double timeout_seconds = 600;
};

// Outside text in a human-facing line.
std::string safe(std::string_view s) { return text::terminal_safe(s, text::Layout::one_line); }

// The answerer wrote every word of it: the text keeps its lines, and nothing
// in it reaches the terminal as a control.
void print_answer(const v1::Answer& answer) {
  std::cout << text::terminal_safe(answer.text());
  if (answer.text().empty() || answer.text().back() != '\n') std::cout << '\n';
  std::array<char, 32> confidence{};
  std::snprintf(confidence.data(), confidence.size(), "%.2f", answer.confidence());
  std::cout << "\nconfidence " << confidence.data();
  if (!answer.answered_by().empty()) {
    std::cout << " \xC2\xB7 answered by " << safe(answer.answered_by());  // U+00B7 middle dot
  }
  std::cout << '\n';
  if (answer.sources_size() == 0) return;
  std::cout << "Sources:\n";
  for (const auto& source : answer.sources()) {
    std::cout << "  " << (source.ref().empty() ? std::string("?") : safe(source.ref()));
    const std::string excerpt = first_line(source.excerpt());
    if (!excerpt.empty()) std::cout << " \xE2\x80\x94 " << safe(excerpt);  // em dash
    std::cout << '\n';
  }
}

void run_ask(const GlobalOptions& global, AskOptions o) {
  if (o.role.empty()) o.role = catalog::question_role();
  if (o.role.empty()) {
    fail(make_error(errc::config, "no role of this build answers questions; give --role ROLE"));
  }
  if (!subjects::is_valid_token(o.role)) {
    const auto known = catalog::names();
    const std::vector<std::string_view> examples(known.begin(), known.end());
    fail(make_error(errc::config, "'" + o.role +
                                      "' is not a role name: use letters, digits, '-' and '_' (" +
                                      vocabulary::join(examples) + ", ...)"));
  }
  const std::string text = join_words(o.words);
  if (text.find_first_not_of(" \t\n") == std::string::npos) {
    fail(make_error(errc::config, "say what to ask: agency ask \"What port does the API use?\""));
  }

  v1::Question question;
  question.set_text(text);
  question.set_context(o.context);
  // Inside an engine the question is the agent's: the answerer sees who asks
  // and for which task, and the sweeper can find it while it waits.
  const std::string agent_id = env("AGENCY_AGENT_ID");
  question.set_from_agent(agent_id);
  if (!agent_id.empty()) question.set_from_role(env("AGENCY_ROLE"));
  question.set_task_id(!o.task.empty() ? o.task : agent_id.empty() ? "" : env("AGENCY_TASK_ID"));

  auto conn = must(connect_cli(global, "agency-ask"));
  // Declared after the connection: destroyed before it.
  std::optional<KeyValue> memory;
  if (!agent_id.empty()) {
    // Only a help for the sweeper: without the bucket the question is still
    // asked, it just is not on record while it waits.
    auto opened = KeyValue::open(*conn, subjects::kMemoryBucket);
    if (opened) memory = std::move(*opened);
  }
  if (::isatty(STDERR_FILENO) == 1) {
    std::cerr << "waiting for " << safe(o.role) << "...\n";
  }
  const auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::duration<double>(o.timeout_seconds));
  auto answer = ask_role(*conn, o.role, std::move(question), timeout, memory ? &*memory : nullptr);
  if (!answer) {
    if (answer.error().code == errc::no_responders) {
      fail(make_error(errc::no_responders, "no agent of role " + o.role +
                                               " is running: start one (agency up, or agency-" +
                                               o.role + ")"));
    }
    if (answer.error().code == errc::timeout) {
      std::array<char, 32> secs{};
      std::snprintf(secs.data(), secs.size(), "%g", o.timeout_seconds);
      fail(make_error(errc::timeout, "no answer from " + o.role + " within " + secs.data() +
                                         " s: it may be busy; try again or give a longer "
                                         "--timeout"));
    }
    fail(answer.error());
  }
  if (global.json) {
    std::cout << text::terminal_safe_json(codec::to_json(*answer)) << '\n';
    return;
  }
  print_answer(*answer);
}

// ---- mail ---------------------------------------------------------------

struct MailOptions {
  std::string to;
  std::vector<std::string> words;
  std::string subject;
  std::string task;
  std::string from;
};

void run_mail(const GlobalOptions& global, const MailOptions& o) {
  if (!subjects::is_valid_token(o.to)) {
    fail(make_error(errc::config, "'" + o.to +
                                      "' is not an agent id: no '.', '*', '>' or spaces (see "
                                      "`agency status` for the agents)"));
  }
  const std::string body = join_words(o.words);
  if (body.find_first_not_of(" \t\n") == std::string::npos) {
    fail(make_error(errc::config, "say what to write: agency mail " + o.to + " \"...\""));
  }
  const std::string agent_id = env("AGENCY_AGENT_ID");
  std::string from = o.from;
  if (from.empty()) from = agent_id;
  if (from.empty()) from = env("USER");
  if (from.empty()) from = "human";

  v1::Mail mail;
  mail.set_id(ids::make("m"));
  mail.set_from(from);
  mail.set_to(o.to);
  mail.set_subject(o.subject);
  mail.set_body(body);
  mail.set_task_id(!o.task.empty() ? o.task : agent_id.empty() ? "" : env("AGENCY_TASK_ID"));
  *mail.mutable_sent_at() = now_timestamp();

  auto conn = must(connect_cli(global, "agency-mail"));
  // Nats-Msg-Id = mail id, as Mesh::send_mail writes it: a retried publish
  // is stored once.
  auto ack = must(conn->js_publish(subjects::mail(o.to), codec::encode(mail), mail.id()));
  if (global.json) {
    std::cout << text::terminal_safe_json(json{
                     {"id", mail.id()},
                     {"to", o.to},
                     {"stream", ack.stream},
                     {"sequence",
                      ack.sequence}}.dump())
              << '\n';
    return;
  }
  std::cout << "mail " << mail.id() << " stored for " << safe(o.to)
            << "; it is delivered between its engine turns (it waits while " << safe(o.to)
            << " is down)\n";
}

}  // namespace

void add_ask_command(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<AskOptions>();
  auto* cmd = app.add_subcommand(
      "ask",
      "Ask a role a question and print its answer (default: the knowledge proxy).\n"
      "  agency ask \"What port does the API use?\"\n"
      "  agency ask --role planner \"Should the limiter be per user or per key?\"\n"
      "Inside an engine (AGENCY_AGENT_ID set) it asks as that agent, for its task.");
  cmd->add_option("question", opts->words, "the question (words are joined with spaces)")
      ->required();
  cmd->add_option("--role", opts->role,
                  "role to ask (default: " +
                      (catalog::question_role().empty() ? std::string("none; give one")
                                                        : catalog::question_role()) +
                      ", the role that answers questions)");
  cmd->add_option("--task", opts->task,
                  "task the question is about (default inside an engine: AGENCY_TASK_ID)");
  cmd->add_option("--context", opts->context, "what the answerer should know besides");
  cmd->add_option("--timeout", opts->timeout_seconds, "seconds to wait for an answer (default 600)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", global.json, "print the Answer as protobuf JSON");
  cmd->callback([&global, opts] { run_ask(global, *opts); });
}

void add_mail_command(CLI::App& app, GlobalOptions& global) {
  auto opts = std::make_shared<MailOptions>();
  auto* cmd = app.add_subcommand(
      "mail",
      "Write to an agent's durable mailbox; it reads it between engine turns, and mail to an "
      "agent that is down waits for it.\n"
      "  agency mail builder-host-1 \"The API moved to port 8081\" --subject \"port change\"");
  cmd->add_option("agent", opts->to, "agent id to write to (see `agency status`)")->required();
  cmd->add_option("text", opts->words, "the mail body (words are joined with spaces)")->required();
  cmd->add_option("--subject", opts->subject, "what it is about");
  cmd->add_option("--task", opts->task,
                  "task it concerns (default inside an engine: AGENCY_TASK_ID)");
  cmd->add_option("--from", opts->from,
                  "sender (default: AGENCY_AGENT_ID, else $USER, else \"human\")");
  cmd->add_flag("--json", global.json, "print id, receiver, stream and sequence as JSON");
  cmd->callback([&global, opts] { run_mail(global, *opts); });
}

}  // namespace agency::cli
