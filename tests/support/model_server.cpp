// See model_server.hpp.
#include "tests/support/model_server.hpp"

#include <curl/curl.h>
#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <sstream>

namespace agency::test {

ModelServer::ModelServer(const std::filesystem::path& dir, const nlohmann::json& script)
    : dir_(dir), log_(dir / "model-server.log.jsonl"), script_(dir / "model-server.script.json") {
  std::filesystem::create_directories(dir_);
  std::ofstream(script_) << script.dump(2);
  child_ = std::make_unique<Child>(
      std::vector<std::string>{"node",
                               std::string(AGENCY_SOURCE_DIR) + "/tests/support/model_server.js",
                               "--script", script_.string(), "--log", log_.string()},
      dir_);
  REQUIRE_MESSAGE(child_->wait_for_output("{\"port\":", std::chrono::seconds(20)),
                  "the model server did not start: " << child_->err());
  auto line = child_->out();
  line = line.substr(0, line.find('\n'));
  port_ = nlohmann::json::parse(line).at("port").get<int>();
}

ModelServer::~ModelServer() = default;

std::string ModelServer::url() const { return "http://127.0.0.1:" + std::to_string(port_); }

void ModelServer::set_script(const nlohmann::json& script) const {
  const std::string body = script.dump();
  const std::string target = url() + "/_script";
  CURL* curl = curl_easy_init();
  REQUIRE(curl != nullptr);
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/json");
  curl_easy_setopt(curl, CURLOPT_URL, target.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION,
      +[](char*, size_t size, size_t n, void*) -> size_t { return size * n; });
  CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  REQUIRE_MESSAGE(rc == CURLE_OK, "cannot reach the model server: " << curl_easy_strerror(rc));
  REQUIRE(status == 200);
}

std::vector<nlohmann::json> ModelServer::requests() const {
  std::vector<nlohmann::json> out;
  std::ifstream in(log_);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

}  // namespace agency::test
