// `agency console` as a browser and a hostile page meet it, over real HTTP
// (libcurl) against a real nats-server: the session and its CSRF token, the
// Host check, the token off loopback, --read-only, a brief from the form's
// request, a person's action, errors. The pages in a real browser:
// tests/e2e/console.test.js.
#include <doctest/doctest.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bus/provision.hpp"
#include "runtime/git.hpp"
#include "runtime/http.hpp"
#include "runtime/tasks.hpp"
#include "tests/support/nats_server.hpp"
#include "tests/support/pipeline.hpp"
#include "tests/support/run.hpp"
#include "tests/support/temp_dir.hpp"

namespace agency {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const std::atomic<bool> kNever{false};

// A console on a free port beside a real server, with one project.
class Console {
 public:
  explicit Console(const std::vector<std::string>& extra = {}) {
    const auto repo = dir_.path() / "project";
    std::filesystem::create_directories(repo);
    REQUIRE(git::run({"git", "init", "-q", "-b", "main"}, repo).exit_code == 0);
    test::write(dir_.path() / "agency.yaml",
                "state_dir: state\nprojects:\n  - name: demo\n    repo: project\n"
                "    landing: none\n");
    auto conn = server_.connect("console-test");
    REQUIRE(provision(*conn, ProvisionPlan{}).ok());
    std::vector<std::string> argv{
        test::agency_binary(), "--nats", server_.url(), "console", "--port", "0", "--json"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    child_ =
        std::make_unique<test::Child>(argv, dir_.path(),
                                      std::map<std::string, std::string>{
                                          {"AGENCY_CONFIG", (dir_.path() / "agency.yaml").string()},
                                          {"USER", "tester"},
                                          {"NATS_URL", ""}});
    REQUIRE_MESSAGE(child_->wait_for_output("\"url\"", 20s), child_->err());
    const auto line = child_->out().substr(0, child_->out().find('\n'));
    auto started = json::parse(line);
    port_ = started["port"].get<int>();
    url_ = started["url"].get<std::string>();
  }
  ~Console() {
    child_->signal(SIGTERM);
    CHECK(child_->wait(10s) == 0);
  }

  [[nodiscard]] std::string base() const { return "http://127.0.0.1:" + std::to_string(port_); }
  [[nodiscard]] const std::string& url() const { return url_; }
  [[nodiscard]] int port() const { return port_; }
  test::NatsServer& server() { return server_; }
  const std::filesystem::path& dir() const { return dir_.path(); }

  http::Response get(const std::string& path,
                     std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::Request r;
    r.url = base() + path;
    r.headers = std::move(headers);
    r.timeout = 10s;
    auto res = http::get(r, kNever);
    REQUIRE_MESSAGE(res.ok(), (res ? "" : res.error().message));
    return *res;
  }
  http::Response post(const std::string& path, const std::string& body,
                      std::vector<std::pair<std::string, std::string>> headers = {}) {
    http::Request r;
    r.url = base() + path;
    r.headers = std::move(headers);
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = body;
    r.timeout = 10s;
    auto res = http::post(r, kNever);
    REQUIRE_MESSAGE(res.ok(), (res ? "" : res.error().message));
    return *res;
  }

  // A session: its cookie and CSRF token, as the page gets them.
  std::vector<std::pair<std::string, std::string>> session() {
    auto s = get("/api/session");
    REQUIRE(s.status == 200);
    const std::string cookie = s.headers["set-cookie"];
    REQUIRE(cookie.starts_with("agency_session="));
    CHECK(cookie.find("HttpOnly") != std::string::npos);
    CHECK(cookie.find("SameSite=Strict") != std::string::npos);
    auto body = json::parse(s.body);
    return {{"Cookie", cookie.substr(0, cookie.find(';'))},
            {"X-Agency-CSRF", body["csrf"].get<std::string>()}};
  }

 private:
  test::TempDir dir_;
  test::NatsServer server_;
  std::unique_ptr<test::Child> child_;
  int port_ = 0;
  std::string url_;
};

TEST_CASE("console: pages come with their security headers, and a foreign Host is refused") {
  Console c;
  auto page = c.get("/");
  CHECK(page.status == 200);
  CHECK(page.headers["content-type"].starts_with("text/html"));
  CHECK(page.headers["content-security-policy"].find("script-src 'self'") != std::string::npos);
  CHECK(page.headers["x-content-type-options"] == "nosniff");
  CHECK(page.body.find("app.js") != std::string::npos);
  CHECK(c.get("/app.js").status == 200);
  CHECK(c.get("/nothing-here").status == 404);
  // DNS rebinding: a page of another name resolved to 127.0.0.1.
  auto rebound = c.get("/api/tasks", {{"Host", "evil.example:" + std::to_string(c.port())}});
  CHECK(rebound.status == 403);
  CHECK(rebound.body.find("answers to http://127.0.0.1:") != std::string::npos);
}

TEST_CASE("console: an action without the session CSRF token is refused, with it it is done") {
  Console c;
  const std::string brief = R"({"role":"planner","objective":"<script>alert(1)</script>"})";
  auto bare = c.post("/api/brief", brief);
  CHECK(bare.status == 403);
  CHECK(bare.body.find("CSRF") != std::string::npos);
  auto session = c.session();
  // The token of another session does not do.
  auto other = c.session();
  auto mixed = c.post("/api/brief", brief, {session[0], other[1]});
  CHECK(mixed.status == 403);

  auto sent = c.post("/api/brief", brief, session);
  REQUIRE_MESSAGE(sent.status == 200, sent.body);
  const std::string id = json::parse(sent.body)["taskId"];
  auto conn = c.server().connect("check");
  auto store = TaskStore::open(*conn);
  REQUIRE(store.ok());
  auto record = store->load(id);
  REQUIRE(record.ok());
  CHECK(record->task.brief().objective() == "<script>alert(1)</script>");
  CHECK(record->task.project() == "demo");
  // The objective comes back as JSON text, with the page's type, once the
  // console's copy of the bucket has the record.
  bool found = false;
  std::string last;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!found && std::chrono::steady_clock::now() < deadline) {
    auto tasks = c.get("/api/tasks");
    last = tasks.body;
    CHECK(tasks.headers["content-type"] == "application/json");
    const json listed = json::parse(tasks.body);
    for (const auto& t : listed["tasks"]) {
      if (t.value("id", "") == id) {
        found = t["brief"].value("objective", "") == "<script>alert(1)</script>";
      }
    }
    if (!found) std::this_thread::sleep_for(20ms);  // polling the console, with a deadline
  }
  CHECK_MESSAGE(found, last);

  // A person's action, as the console's user; the task page shows it.
  auto commented =
      c.post("/api/task/" + id + "/comment", R"({"text":"from the console"})", session);
  REQUIRE_MESSAGE(commented.status == 200, commented.body);
  CHECK(json::parse(commented.body)["actor"] == "human:tester");
  auto page = json::parse(c.get("/api/task/" + id).body);
  CHECK(page["task"]["id"] == id);
  bool comment_event = false;
  for (const auto& e : page["events"]) {
    comment_event = comment_event || (e["kind"] == "commented" && e["actor"] == "human:tester");
  }
  CHECK(comment_event);
  CHECK(page["moves"].dump().find("ready-to-land") == std::string::npos);  // landing: none

  // Errors: an unknown task, a move that is not allowed, a bad body.
  CHECK(c.post("/api/task/t-nope/retry", "{}", session).status == 404);
  auto nowhere = c.post("/api/task/" + id + "/move", R"({"stage":"nowhere"})", session);
  CHECK(nowhere.status == 409);
  CHECK(nowhere.body.find("it can move to ready-for-prep") != std::string::npos);
  CHECK(c.post("/api/task/" + id + "/comment", "[1,2", session).status == 400);
  CHECK(c.post("/api/brief", R"({"role":"planner","objective":7})", session).status == 400);
}

TEST_CASE("console: --read-only serves the pages and refuses every action") {
  Console c({"--read-only"});
  auto session = c.session();
  auto s = json::parse(c.get("/api/session").body);
  CHECK(s["readOnly"] == true);
  auto sent = c.post("/api/brief", R"({"role":"planner","objective":"x"})", session);
  CHECK(sent.status == 403);
  CHECK(sent.body.find("read-only") != std::string::npos);
  CHECK(c.get("/api/tasks").status == 200);
}

TEST_CASE("console: off loopback every request needs the token, kept 0600 in the state dir") {
  Console c({"--listen", "0.0.0.0"});
  const auto file = c.dir() / "state" / "console.token";
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  const std::string token = c.url().substr(c.url().find("?token=") + 7);
  CHECK(token.size() >= 32);
  CHECK(c.get("/api/tasks").status == 403);
  CHECK(c.get("/api/tasks", {{"Authorization", "Bearer wrong"}}).status == 403);
  CHECK(c.get("/api/tasks", {{"Authorization", "Bearer " + token}}).status == 200);
  // Once in the address, the token becomes a cookie and leaves the address.
  auto first = c.get("/?token=" + token);
  CHECK(first.status == 303);
  CHECK(first.headers["location"] == "/");
  const std::string cookie = first.headers["set-cookie"];
  CHECK(cookie.find("HttpOnly") != std::string::npos);
  CHECK(c.get("/api/tasks", {{"Cookie", cookie.substr(0, cookie.find(';'))}}).status == 200);
}

}  // namespace
}  // namespace agency
