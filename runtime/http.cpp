// The HTTP client of the openai and anthropic engines (http.hpp).
#include "runtime/http.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "bus/text.hpp"
#include "runtime/limits.hpp"

namespace agency::http {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// An answer this large is not a model's answer; stop reading rather than
// fill memory.
constexpr size_t kMaxBody = size_t{64} << 20;

struct CurlDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

struct Transfer {
  Response response;
  const std::atomic<bool>* cancel = nullptr;
  bool too_large = false;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (t->response.body.size() + n > kMaxBody) {
    t->too_large = true;
    return 0;
  }
  t->response.body.append(data, n);
  return n;
}

using text::trim;

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  std::string_view line(data, n);
  // A status line starts the headers of a new response (after a
  // "100 Continue"): keep only the last response's.
  if (line.substr(0, 5) == "HTTP/") {
    t->response.headers.clear();
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  std::string name = trim(line.substr(0, colon));
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!name.empty()) t->response.headers[name] = trim(line.substr(colon + 1));
  return n;
}

int on_progress(void* user, curl_off_t /*dltotal*/, curl_off_t /*dlnow*/, curl_off_t /*ultotal*/,
                curl_off_t /*ulnow*/) {
  const auto* t = static_cast<const Transfer*>(user);
  return t->cancel->load() ? 1 : 0;
}

std::string seconds_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

Result<void> global_init() {
  static std::once_flag once;
  static CURLcode code = CURLE_OK;
  std::call_once(once, [] { code = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (code != CURLE_OK) {
    return make_error(errc::internal,
                      std::string("libcurl did not start: ") + curl_easy_strerror(code));
  }
  return {};
}

bool transient(const Error& e) { return e.code == errc::timeout || e.code == errc::connect; }

// Waits `d`, in short slices so a cancel is seen soon. False when cancelled.
bool wait_unless_cancelled(std::chrono::milliseconds d, const std::atomic<bool>& cancel) {
  const auto until = Clock::now() + d;
  while (Clock::now() < until) {
    if (cancel.load()) return false;
    std::this_thread::sleep_for(std::min<Clock::duration>(50ms, until - Clock::now()));
  }
  return !cancel.load();
}

Result<Response> exchange(const Request& request, const std::atomic<bool>& cancel, bool is_post) {
  if (auto r = global_init(); !r) return r.error();
  std::unique_ptr<CURL, CurlDeleter> handle(curl_easy_init());
  if (!handle) return make_error(errc::internal, "libcurl could not make a request handle");
  CURL* h = handle.get();

  std::unique_ptr<curl_slist, SlistDeleter> headers;
  auto add_header = [&headers](const std::string& line) {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (next != nullptr) {
      (void)headers.release();
      headers.reset(next);
    }
    return next != nullptr;
  };
  for (const auto& [name, value] : request.headers) {
    if (!add_header(name + ": " + value)) {
      return make_error(errc::internal, "libcurl could not take the request headers");
    }
  }
  // No "Expect: 100-continue" round trip for large prompts.
  add_header("Expect:");

  Transfer t;
  t.cancel = &cancel;
  char errbuf[CURL_ERROR_SIZE] = {};
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(h, CURLOPT_URL, request.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);  // we run on worker threads
  if (is_post) {
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else {
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(h, CURLOPT_USERAGENT, "agency");
  curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout.count()));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(request.connect_timeout.count()));
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, &on_progress);
  curl_easy_setopt(h, CURLOPT_XFERINFODATA, &t);
  curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);

  if (cancel.load()) return make_error(errc::io, "cancelled");
  const CURLcode code = curl_easy_perform(h);
  const std::string detail = errbuf[0] != '\0' ? std::string(errbuf) : curl_easy_strerror(code);
  switch (code) {
    case CURLE_OK:
      break;
    case CURLE_ABORTED_BY_CALLBACK:
      return make_error(errc::io, "cancelled");
    case CURLE_OPERATION_TIMEDOUT: {
      curl_off_t connected = 0;
      curl_easy_getinfo(h, CURLINFO_CONNECT_TIME_T, &connected);
      if (connected == 0) {
        return make_error(errc::timeout, "could not connect to " + request.url + " within " +
                                             seconds_text(request.connect_timeout));
      }
      return make_error(errc::timeout, "no answer from " + request.url + " within " +
                                           seconds_text(request.timeout));
    }
    case CURLE_WRITE_ERROR:
      if (t.too_large) {
        return make_error(errc::bad_payload, request.url + " answered with more than " +
                                                 std::to_string(kMaxBody >> 20) + " MiB");
      }
      return make_error(errc::io, "cannot read the answer of " + request.url + ": " + detail);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return make_error(errc::connect, "cannot reach " + request.url + ": " + detail);
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      return make_error(errc::config, "cannot use " + request.url + ": " + detail +
                                          " (check base_url in agency.yaml)");
    default:
      return make_error(errc::io, "request to " + request.url + " failed: " + detail);
  }
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &t.response.status);
  return std::move(t.response);
}

}  // namespace

Result<Response> post(const Request& request, const std::atomic<bool>& cancel) {
  return exchange(request, cancel, true);
}

Result<Response> get(const Request& request, const std::atomic<bool>& cancel) {
  return exchange(request, cancel, false);
}

std::string join_url(std::string_view base, std::string_view path) {
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  // path "/v1/messages": its first segment "/v1" may end the base already.
  const size_t second = path.find('/', 1);
  if (second != std::string_view::npos) {
    const std::string_view first = path.substr(0, second);
    if (base.size() >= first.size() && base.substr(base.size() - first.size()) == first) {
      path.remove_prefix(first.size());
    }
  }
  return std::string(base) + std::string(path);
}

std::string host_of(std::string_view url) {
  if (const size_t scheme = url.find("://"); scheme != std::string_view::npos) {
    url.remove_prefix(scheme + 3);
  }
  url = url.substr(0, url.find_first_of("/?#"));
  // Credentials in a URL ("user:pw@host") are not for labels.
  if (const size_t at = url.rfind('@'); at != std::string_view::npos) url.remove_prefix(at + 1);
  return std::string(url);
}

Result<Exchange> post_with_retries(const Request& request, const RetryPolicy& policy,
                                   const std::atomic<bool>& cancel, const NoteFn& note) {
  const int attempts = 1 + std::max(0, policy.retries);
  std::chrono::milliseconds delay = policy.first_delay;
  for (int attempt = 1;; ++attempt) {
    auto r = post(request, cancel);
    const bool again = r ? r->status >= 500 : transient(r.error());
    if (!again || attempt >= attempts) {
      if (r) return Exchange{std::move(*r), attempt};
      Error e = r.error();
      if (attempt > 1 && transient(e)) {
        e.message += " (after " + std::to_string(attempt) + " attempts)";
      }
      return e;
    }
    std::chrono::milliseconds wait = std::min(delay, policy.max_delay);
    if (r) {
      const auto now = std::chrono::system_clock::now();
      if (auto at = limits::retry_at(r->headers, now)) {
        wait = std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(*at - now),
                          std::chrono::milliseconds(0), policy.max_delay);
      }
    }
    if (note) {
      const std::string why =
          r ? host_of(request.url) + " answered " + std::to_string(r->status) : r.error().message;
      note(why + ", trying again in " + seconds_text(wait) + " (attempt " +
           std::to_string(attempt + 1) + " of " + std::to_string(attempts) + ")");
    }
    if (!wait_unless_cancelled(wait, cancel)) return make_error(errc::io, "cancelled");
    delay = std::min(delay * 2, policy.max_delay);
  }
}

std::string excerpt(std::string_view body) {
  constexpr size_t kMax = 200;
  size_t cut = std::min(body.size(), kMax);
  // Not in the middle of a UTF-8 sequence.
  while (cut > 0 && cut < body.size() && (static_cast<unsigned char>(body[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  std::string out(body.substr(0, cut));
  for (char& c : out) {
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  }
  if (cut < body.size()) out += "...";
  if (out.empty()) out = "(empty body)";
  return out;
}

std::string error_message(std::string_view body) {
  const auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object()) {
    if (auto it = j.find("error"); it != j.end()) {
      if (it->is_string()) return it->get<std::string>();
      if (it->is_object()) {
        if (auto m = it->find("message"); m != it->end() && m->is_string()) {
          return m->get<std::string>();
        }
        if (auto m = it->find("type"); m != it->end() && m->is_string()) {
          return m->get<std::string>();
        }
      }
    }
    if (auto m = j.find("message"); m != j.end() && m->is_string()) return m->get<std::string>();
  }
  return excerpt(body);
}

std::string scrub(std::string text, std::string_view secret) {
  if (secret.empty()) return text;
  constexpr std::string_view kMark = "[redacted]";
  for (size_t at = text.find(secret); at != std::string::npos;
       at = text.find(secret, at + kMark.size())) {
    text.replace(at, secret.size(), kMark);
  }
  return text;
}

Error malformed_answer(const ApiCall& call, std::string_view what, std::string_view body) {
  return make_error(errc::bad_payload,
                    scrub(call.engine + ": cannot read the answer of " + call.request.url + ": " +
                              std::string(what) + "; it begins: " + excerpt(body),
                          call.secret));
}

Result<ApiAnswer> call_api(const ApiCall& call, const std::atomic<bool>& cancel,
                           const ProgressFn& progress) {
  NoteFn note;
  if (progress) {
    note = [&](std::string_view text) { progress(call.engine + ": " + std::string(text)); };
  }
  auto exchange = post_with_retries(call.request, call.retry, cancel, note);
  if (!exchange) {
    const Error& e = exchange.error();
    std::string msg = e.message == "cancelled" ? e.message : call.engine + ": " + e.message;
    if (e.code == errc::timeout) msg += " (raise timeout_seconds if the model needs longer)";
    return make_error(e.code, scrub(std::move(msg), call.secret));
  }

  Response& response = exchange->response;
  const auto now = std::chrono::system_clock::now();
  ApiAnswer answer;
  answer.limits = limits::from_headers(response.headers, now);
  answer.attempts = exchange->attempts;
  const long status = response.status;
  if (status >= 200 && status < 300) {
    answer.response = std::move(response);
    return answer;
  }

  const std::string server_says = scrub(error_message(response.body), call.secret);
  if (status == 429) {
    Outcome refused;
    RateLimit limit;
    limit.resets_at = limits::retry_at(response.headers, now).value_or(now + call.rate_limit_wait);
    limit.detail = server_says;
    refused.rate_limit = std::move(limit);
    refused.limits = answer.limits;
    answer.refused = std::move(refused);
    return answer;
  }

  std::string msg = call.engine + ": " + call.request.url + " answered " + std::to_string(status);
  if (exchange->attempts > 1) msg += " after " + std::to_string(exchange->attempts) + " attempts";
  msg += ": " + server_says;
  if (status == 401 || status == 403) {
    msg +=
        call.key_env.empty() ? " (check the API key)" : " (check the key in $" + call.key_env + ")";
  } else if (status == 404) {
    msg += " (check base_url and model in agency.yaml)";
  } else if (status >= 300 && status < 400) {
    msg += " (redirects are not followed: check base_url in agency.yaml)";
  }
  const errc code = status >= 400 && status < 500 ? errc::bad_payload : errc::io;
  return make_error(code, scrub(std::move(msg), call.secret));
}

Result<Outcome> with_block(Outcome outcome, std::string_view who) {
  auto block = parse_outcome_block(outcome.text);
  if (!block) {
    return make_error(errc::bad_payload, std::string(who) + ": " + block.error().message);
  }
  if (*block) {
    outcome.block = std::move(**block);
    outcome.has_block = true;
    outcome.verdict = outcome.block.verdict;
  }
  return outcome;
}

Result<Outcome> run_turn(const ApiCall& call, const std::string& model, const ReadAnswer& read,
                         std::string_view who, const std::atomic<bool>& cancel,
                         const ProgressFn& progress) {
  const auto started = std::chrono::steady_clock::now();
  auto answer = call_api(call, cancel, progress);
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  if (!answer) return answer.error();
  if (answer->refused) {
    answer->refused->model = model;
    answer->refused->duration = took;
    answer->refused->retries = std::max(0, answer->attempts - 1);
    return std::move(*answer->refused);
  }
  auto outcome = read(call, answer->response.body);
  if (!outcome) return outcome.error();
  outcome->limits = std::move(answer->limits);
  outcome->duration = took;
  outcome->retries = std::max(0, answer->attempts - 1);
  return with_block(std::move(*outcome), who);
}

}  // namespace agency::http
