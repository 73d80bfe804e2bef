// settings_from_environment with an injected environment and nats CLI
// contexts written to a temp dir: nothing here reads the real environment.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "bus/connect.hpp"
#include "tests/support/temp_dir.hpp"

namespace fs = std::filesystem;
using agency::ConnectSettings;
using agency::errc;

namespace {

using Env = std::map<std::string, std::string, std::less<>>;

agency::EnvLookup lookup(Env env) {
  return [env = std::move(env)](std::string_view name) -> std::optional<std::string> {
    auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  };
}

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// A nats CLI config dir under HOME, the way `nats context add` leaves it.
struct Home {
  agency::test::TempDir dir;
  fs::path nats_dir() const { return dir.path() / ".config" / "nats"; }
  fs::path context(const std::string& name, const std::string& json) const {
    auto file = nats_dir() / "context" / (name + ".json");
    write(file, json);
    return file;
  }
  void select(const std::string& name) const { write(nats_dir() / "context.txt", name + "\n"); }
  fs::path file(const std::string& name) const {
    auto p = dir.path() / name;
    write(p, "x");
    return p;
  }
};

ConnectSettings ok(const Env& env) {
  auto s = agency::settings_from_environment(lookup(env));
  INFO((s ? std::string() : s.error().message));
  REQUIRE(s.ok());
  return *s;
}

std::string fails(const Env& env) {
  auto s = agency::settings_from_environment(lookup(env));
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == errc::config);
  return s.error().message;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

TEST_CASE("connect: an empty environment means the local default server") {
  auto s = ok({});
  REQUIRE(s.servers.size() == 1);
  CHECK(s.servers[0] == agency::kDefaultNatsUrl);
  CHECK(s.origin == "default");
  CHECK(s.user.empty());
  CHECK(s.password.empty());
  CHECK(s.token.empty());
  CHECK(s.creds_file.empty());
  CHECK(s.tls_ca.empty());
}

TEST_CASE("connect: empty variables count as unset") {
  auto s = ok({{"NATS_URL", ""}, {"NATS_USER", ""}, {"NATS_CONTEXT", ""}, {"NATS_CREDS", ""}});
  CHECK(s.servers == std::vector<std::string>{std::string(agency::kDefaultNatsUrl)});
  CHECK(s.origin == "default");
}

TEST_CASE("connect: NATS_URL lists") {
  SUBCASE("one URL is kept as written") {
    auto s = ok({{"NATS_URL", "nats://example.org:4333"}});
    CHECK(s.servers == std::vector<std::string>{"nats://example.org:4333"});
    CHECK(s.origin == "NATS_URL");
  }
  SUBCASE("a comma-separated list, spaces trimmed, missing schemes added") {
    auto s = ok({{"NATS_URL", " nats://a:4222 , b:4223,tls://c:4224, [::1]:4225 ,d"}});
    CHECK(s.servers == std::vector<std::string>{"nats://a:4222", "nats://b:4223", "tls://c:4224",
                                                "nats://[::1]:4225", "nats://d"});
  }
  SUBCASE("user info in a URL is kept for the connection") {
    auto s = ok({{"NATS_URL", "nats://u:p@host:4222"}});
    CHECK(s.servers[0] == "nats://u:p@host:4222");
  }
}

TEST_CASE("connect: a URL that is not a NATS URL is refused, naming NATS_URL") {
  const char* bad[] = {
      "http://host:4222", "nats://:4222", "nats://host:port", "nats://host:99999", "a,,b",
      "nats://",          "host name",    "nats://::1:4222",  "nats://host:"};
  for (const char* url : bad) {
    CAPTURE(url);
    auto msg = fails({{"NATS_URL", url}});
    CHECK(contains(msg, "NATS_URL"));
  }
}

TEST_CASE("connect: the error about a bad URL does not show its password") {
  auto msg = fails({{"NATS_URL", "ftp://alice:s3cret@host"}});
  CHECK_FALSE(contains(msg, "s3cret"));
  CHECK(contains(msg, "ftp"));
}

TEST_CASE("connect: credentials from variables") {
  Home home;
  auto creds = home.file("user.creds");
  auto ca = home.file("ca.pem");
  auto cert = home.file("cert.pem");
  auto key = home.file("key.pem");
  auto nkey = home.file("user.nk");
  SUBCASE("user and password") {
    auto s = ok({{"NATS_USER", "alice"}, {"NATS_PASSWORD", "pw"}});
    CHECK(s.user == "alice");
    CHECK(s.password == "pw");
  }
  SUBCASE("token") { CHECK(ok({{"NATS_TOKEN", "t0k"}}).token == "t0k"); }
  SUBCASE("files") {
    auto s = ok({{"NATS_CREDS", creds.string()},
                 {"NATS_NKEY", nkey.string()},
                 {"NATS_CA", ca.string()},
                 {"NATS_CERT", cert.string()},
                 {"NATS_KEY", key.string()}});
    CHECK(s.creds_file == creds.string());
    CHECK(s.nkey_seed_file == nkey.string());
    CHECK(s.tls_ca == ca.string());
    CHECK(s.tls_cert == cert.string());
    CHECK(s.tls_key == key.string());
  }
  SUBCASE("~ means HOME") {
    auto s = ok({{"HOME", home.dir.path().string()}, {"NATS_CREDS", "~/user.creds"}});
    CHECK(fs::path(s.creds_file) == creds);
  }
}

TEST_CASE("connect: inconsistent credentials are refused, naming the variables") {
  Home home;
  auto creds = home.file("user.creds");
  SUBCASE("NATS_USER without NATS_PASSWORD") {
    auto msg = fails({{"NATS_USER", "alice"}});
    CHECK(contains(msg, "NATS_USER"));
    CHECK(contains(msg, "NATS_PASSWORD"));
  }
  SUBCASE("NATS_PASSWORD without NATS_USER") {
    CHECK(contains(fails({{"NATS_PASSWORD", "pw"}}), "NATS_PASSWORD"));
  }
  SUBCASE("NATS_CREDS and NATS_USER") {
    auto msg =
        fails({{"NATS_CREDS", creds.string()}, {"NATS_USER", "alice"}, {"NATS_PASSWORD", "pw"}});
    CHECK(contains(msg, "NATS_CREDS"));
    CHECK(contains(msg, "NATS_USER"));
  }
  SUBCASE("a certificate without its key") {
    CHECK(contains(fails({{"NATS_CERT", creds.string()}}), "NATS_CERT"));
  }
  SUBCASE("a credentials file that does not exist") {
    auto missing = (home.dir.path() / "nope.creds").string();
    auto msg = fails({{"NATS_CREDS", missing}});
    CHECK(contains(msg, "NATS_CREDS"));
    CHECK(contains(msg, missing));
  }
}

TEST_CASE("connect: NATS_CONTEXT selects a context file") {
  Home home;
  auto creds = home.file("prod.creds");
  auto file = home.context("prod", R"({"description": "production", "url": "nats://prod:4222",
      "creds": ")" + creds.string() + R"(", "nsc": "", "jetstream_domain": "hub",
      "color_scheme": "", "token": ""})");
  auto s = ok({{"HOME", home.dir.path().string()}, {"NATS_CONTEXT", "prod"}});
  CHECK(s.servers == std::vector<std::string>{"nats://prod:4222"});
  CHECK(s.creds_file == creds.string());
  CHECK(s.token.empty());
  CHECK(s.origin == "context 'prod' (" + file.string() + ")");
}

TEST_CASE("connect: XDG_CONFIG_HOME takes precedence over HOME") {
  Home home;
  agency::test::TempDir xdg;
  home.context("c", R"({"url": "nats://from-home:4222"})");
  write(xdg.path() / "nats" / "context" / "c.json", R"({"url": "nats://from-xdg:4222"})");
  auto s = ok({{"HOME", home.dir.path().string()},
               {"XDG_CONFIG_HOME", xdg.path().string()},
               {"NATS_CONTEXT", "c"}});
  CHECK(s.servers == std::vector<std::string>{"nats://from-xdg:4222"});
}

TEST_CASE("connect: context.txt selects the context when NATS_CONTEXT is unset") {
  Home home;
  home.context("dev", R"({"url": "dev-a:4222, dev-b:4222", "user": "u", "password": "p"})");
  home.context("prod", R"({"url": "nats://prod:4222"})");
  home.select("dev");
  Env env{{"HOME", home.dir.path().string()}};
  auto s = ok(env);
  CHECK(s.servers == std::vector<std::string>{"nats://dev-a:4222", "nats://dev-b:4222"});
  CHECK(s.user == "u");
  CHECK(s.password == "p");
  CHECK(contains(s.origin, "context 'dev'"));

  SUBCASE("NATS_CONTEXT wins over context.txt") {
    env["NATS_CONTEXT"] = "prod";
    CHECK(ok(env).servers == std::vector<std::string>{"nats://prod:4222"});
  }
  SUBCASE("an empty context.txt selects nothing") {
    home.select("");
    CHECK(ok(env).origin == "default");
  }
}

TEST_CASE("connect: variables override the context field by field") {
  Home home;
  home.context("c", R"({"url": "nats://ctx:4222", "user": "ctx-user", "password": "ctx-pw",
                        "token": "ctx-token"})");
  auto s = ok({{"HOME", home.dir.path().string()},
               {"NATS_CONTEXT", "c"},
               {"NATS_URL", "nats://env:4222"},
               {"NATS_PASSWORD", "env-pw"}});
  CHECK(s.servers == std::vector<std::string>{"nats://env:4222"});
  CHECK(s.origin == "NATS_URL");
  CHECK(s.user == "ctx-user");
  CHECK(s.password == "env-pw");
  CHECK(s.token == "ctx-token");
}

TEST_CASE("connect: a context without a url leaves the default server") {
  Home home;
  home.context("c", R"({"token": "t"})");
  auto s = ok({{"HOME", home.dir.path().string()}, {"NATS_CONTEXT", "c"}});
  CHECK(s.origin == "default");
  CHECK(s.servers == std::vector<std::string>{std::string(agency::kDefaultNatsUrl)});
  CHECK(s.token == "t");
}

TEST_CASE("connect: context errors name the context and the file") {
  Home home;
  Env env{{"HOME", home.dir.path().string()}};
  SUBCASE("NATS_CONTEXT names a context that does not exist") {
    home.context("other", "{}");
    env["NATS_CONTEXT"] = "missing";
    auto msg = fails(env);
    CHECK(contains(msg, "NATS_CONTEXT"));
    CHECK(contains(msg, (home.nats_dir() / "context" / "missing.json").string()));
    CHECK(contains(msg, "other"));  // lists what there is
  }
  SUBCASE("context.txt names a context that does not exist") {
    home.select("gone");
    auto msg = fails(env);
    CHECK(contains(msg, "context.txt"));
    CHECK(contains(msg, "gone.json"));
  }
  SUBCASE("a context file that is not JSON") {
    auto file = home.context("broken", "{ url: nats://x }");
    env["NATS_CONTEXT"] = "broken";
    auto msg = fails(env);
    CHECK(contains(msg, file.string()));
    CHECK(contains(msg, "JSON"));
  }
  SUBCASE("a context field of the wrong type") {
    auto file = home.context("typed", R"({"url": 4222})");
    env["NATS_CONTEXT"] = "typed";
    auto msg = fails(env);
    CHECK(contains(msg, file.string()));
    CHECK(contains(msg, "'url'"));
  }
  SUBCASE("a context with a bad URL") {
    auto file = home.context("badurl", R"({"url": "http://x:80"})");
    env["NATS_CONTEXT"] = "badurl";
    CHECK(contains(fails(env), file.string()));
  }
  SUBCASE("a context with a user but no password") {
    auto file = home.context("nopw", R"({"user": "u"})");
    env["NATS_CONTEXT"] = "nopw";
    auto msg = fails(env);
    CHECK(contains(msg, file.string()));
    CHECK(contains(msg, "'user'"));
  }
  SUBCASE("a context name that is a path") {
    env["NATS_CONTEXT"] = "../../etc/passwd";
    CHECK(contains(fails(env), "NATS_CONTEXT"));
  }
  SUBCASE("NATS_CONTEXT without HOME or XDG_CONFIG_HOME") {
    auto msg = fails({{"NATS_CONTEXT", "prod"}});
    CHECK(contains(msg, "NATS_CONTEXT"));
    CHECK(contains(msg, "HOME"));
  }
}

TEST_CASE("connect: redaction removes user info, nothing else") {
  CHECK(agency::redact_url("nats://alice:s3cret@host:4222") == "nats://host:4222");
  CHECK(agency::redact_url("nats://t0ken@host:4222") == "nats://host:4222");
  CHECK(agency::redact_url("nats://host:4222") == "nats://host:4222");
  CHECK(agency::redact_url("alice:pw@host") == "host");
  CHECK(agency::redact_url("tls://u:p@a:1,nats://b:2") == "tls://a:1,nats://b:2");
  // An '@' after the host belongs to the path, not to the user info.
  CHECK(agency::redact_url("nats://host:4222/x@y") == "nats://host:4222/x@y");
  // A password that contains '@' is removed whole.
  CHECK(agency::redact_url("nats://u:p@ss@host") == "nats://host");

  ConnectSettings s;
  s.servers = {"nats://a:b@one:4222", "tls://tok@two:4222", "nats://three:4222"};
  CHECK(s.display_url() == "nats://one:4222,tls://two:4222,nats://three:4222");
}
