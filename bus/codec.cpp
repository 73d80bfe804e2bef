#include "bus/codec.hpp"

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>
#include <google/protobuf/unknown_field_set.h>
#include <google/protobuf/util/json_util.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agency/v1/ask.pb.h"
#include "agency/v1/brief.pb.h"
#include "agency/v1/control.pb.h"
#include "agency/v1/dead.pb.h"
#include "agency/v1/event.pb.h"
#include "agency/v1/fleet.pb.h"
#include "agency/v1/scale.pb.h"
#include "agency/v1/task.pb.h"
#include "agency/v1/usage.pb.h"
#include "agency/v1/worklog.pb.h"
#include "bus/text.hpp"
#include "bus/vocabulary.hpp"

namespace agency::codec {
namespace {

namespace pb = google::protobuf;
namespace vocab = agency::vocabulary;

constexpr std::string_view kOurPackage = "agency.v1.";
constexpr std::size_t npos = std::string_view::npos;
using text::invalid_utf8_at;

// Every message of agency.v1. Naming each default instance here keeps its
// .pb.cc object (and so its descriptor) in the link even though the schemas
// live in a static library; new_message() looks types up in this list.
const std::array<const pb::Message*, 24>& prototypes() {
  static const std::array<const pb::Message*, 24> all = {
      &v1::Brief::default_instance(),         &v1::Task::default_instance(),
      &v1::StageChange::default_instance(),   &v1::TaskEvent::default_instance(),
      &v1::AgentStatus::default_instance(),   &v1::Question::default_instance(),
      &v1::Source::default_instance(),        &v1::Answer::default_instance(),
      &v1::Mail::default_instance(),          &v1::UsageSample::default_instance(),
      &v1::Lease::default_instance(),         &v1::LeaseReply::default_instance(),
      &v1::Settle::default_instance(),        &v1::WorkLog::default_instance(),
      &v1::Header::default_instance(),        &v1::DeadLetter::default_instance(),
      &v1::Control::default_instance(),       &v1::LimitReading::default_instance(),
      &v1::FleetEvent::default_instance(),    &v1::ScaleRequest::default_instance(),
      &v1::ScaleReply::default_instance(),    &v1::UsageSamples::default_instance(),
      &v1::PipelineStage::default_instance(), &v1::AccountLimit::default_instance(),
  };
  return all;
}

const pb::Message* prototype(std::string_view full_name) {
  if (!full_name.starts_with(kOurPackage)) return nullptr;
  for (const pb::Message* p : prototypes()) {
    if (p->GetDescriptor()->full_name() == full_name) return p;
  }
  return nullptr;
}

// Reasons quote what was sent and travel on: into dead letters, logs and
// terminals. Made one line without control characters here, every reader
// after us gets text it can print.
Error bad(const std::string& message) {
  return Error{errc::bad_payload, text::terminal_safe(message, text::Layout::one_line)};
}

// A piece of the input for a message: cut, so a megabyte header does not
// become a megabyte reason.
std::string quote(std::string_view s, std::size_t max = 60) {
  if (s.size() <= max) return std::string(s);
  std::size_t cut = max;
  // Not inside a multi-byte character.
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0U) == 0x80U) --cut;
  return std::string(s.substr(0, cut)) + "...";
}

Error empty_payload(const std::string& type) {
  return bad(fmt::format("empty payload: expected {} as protobuf, JSON or plain text", type));
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// Editors and some tools put a byte-order mark in front of UTF-8 text.
std::string_view strip_bom(std::string_view s) {
  constexpr std::string_view kBom = "\xEF\xBB\xBF";
  if (s.starts_with(kBom)) s.remove_prefix(kBom.size());
  return s;
}

// Why `s` is not plain text (invalid UTF-8, a C0 or C1 control character
// other than tab and line ends, DEL), or nullopt when it is.
std::optional<std::string> not_text_reason(std::string_view s) {
  if (std::size_t at = invalid_utf8_at(s); at != npos) {
    return fmt::format("invalid UTF-8 at byte {}", at);
  }
  for (std::size_t i = 0; i < s.size();) {
    char32_t cp = 0;
    const std::size_t len = text::utf8_sequence(s, i, cp);
    if (text::is_control(cp) && cp != '\t' && cp != '\n' && cp != '\r') {
      return fmt::format("control character {} at byte {}",
                         cp < 0x80 ? fmt::format("0x{:02x}", static_cast<unsigned>(cp))
                                   : fmt::format("U+{:04X}", static_cast<unsigned>(cp)),
                         i);
    }
    i += len;
  }
  return std::nullopt;
}

const char* wire_type_name(pb::UnknownField::Type t) {
  switch (t) {
    case pb::UnknownField::TYPE_VARINT:
      return "varint";
    case pb::UnknownField::TYPE_FIXED32:
      return "fixed32";
    case pb::UnknownField::TYPE_FIXED64:
      return "fixed64";
    case pb::UnknownField::TYPE_LENGTH_DELIMITED:
      return "length-delimited";
    case pb::UnknownField::TYPE_GROUP:
      return "group";
  }
  return "unknown";
}

pb::UnknownField::Type wire_type_for(const pb::FieldDescriptor& field) {
  switch (field.type()) {
    case pb::FieldDescriptor::TYPE_DOUBLE:
    case pb::FieldDescriptor::TYPE_FIXED64:
    case pb::FieldDescriptor::TYPE_SFIXED64:
      return pb::UnknownField::TYPE_FIXED64;
    case pb::FieldDescriptor::TYPE_FLOAT:
    case pb::FieldDescriptor::TYPE_FIXED32:
    case pb::FieldDescriptor::TYPE_SFIXED32:
      return pb::UnknownField::TYPE_FIXED32;
    case pb::FieldDescriptor::TYPE_STRING:
    case pb::FieldDescriptor::TYPE_BYTES:
    case pb::FieldDescriptor::TYPE_MESSAGE:
      return pb::UnknownField::TYPE_LENGTH_DELIMITED;
    case pb::FieldDescriptor::TYPE_GROUP:
      return pb::UnknownField::TYPE_GROUP;
    default:
      return pb::UnknownField::TYPE_VARINT;
  }
}

// Why `bytes` are not a clean protobuf encoding of `type`, or "" when they
// are. Garbage often decodes as fields a message does not have, or as a
// string field with a wire type or bytes it cannot have; checking against
// the schema first, at every level, turns that into a refusal (and keeps
// protobuf from logging about invalid UTF-8 on our stderr).
std::string wire_problem(std::string_view bytes, const pb::Descriptor& type) {
  pb::UnknownFieldSet fields;
  if (!fields.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return "the bytes are not a protobuf encoding";
  }
  for (int i = 0; i < fields.field_count(); ++i) {
    const pb::UnknownField& f = fields.field(i);
    const pb::FieldDescriptor* field = type.FindFieldByNumber(f.number());
    if (field == nullptr) {
      return fmt::format("field number {} is not in {}", f.number(), type.full_name());
    }
    const pb::UnknownField::Type want = wire_type_for(*field);
    const bool packed = field->is_packable() && f.type() == pb::UnknownField::TYPE_LENGTH_DELIMITED;
    if (f.type() != want && !packed) {
      return fmt::format("{} is sent as {} where a {} was expected", field->full_name(),
                         wire_type_name(f.type()), wire_type_name(want));
    }
    if (f.type() != pb::UnknownField::TYPE_LENGTH_DELIMITED || packed) continue;
    const std::string& value = f.length_delimited();
    if (field->type() == pb::FieldDescriptor::TYPE_STRING) {
      if (std::size_t at = invalid_utf8_at(value); at != npos) {
        return fmt::format("{} is not valid UTF-8 (invalid UTF-8 at byte {} of the field)",
                           field->full_name(), at);
      }
    } else if (field->type() == pb::FieldDescriptor::TYPE_MESSAGE) {
      std::string inner = wire_problem(value, *field->message_type());
      if (!inner.empty()) return inner;
    }
  }
  return "";
}

// Protobuf binary into `out`, or why not.
std::string parse_binary(pb::Message& out, std::string_view bytes) {
  std::string problem = wire_problem(bytes, *out.GetDescriptor());
  if (!problem.empty()) return problem;
  if (!out.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    out.Clear();
    return "the protobuf parser refused the bytes";
  }
  return "";
}

const pb::FieldDescriptor* json_field(const pb::Descriptor& type, std::string_view key) {
  for (int i = 0; i < type.field_count(); ++i) {
    const pb::FieldDescriptor* f = type.field(i);
    if (f->json_name() == key || f->name() == key) return f;
  }
  return nullptr;
}

// Messages of our own schema (not google.protobuf.Timestamp and friends,
// which JSON writes as strings).
bool is_object_message(const pb::FieldDescriptor& f) {
  return f.cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE &&
         !f.message_type()->file()->name().starts_with("google/protobuf/");
}

// "a string", "an array": what a JSON value is, for messages.
std::string a_kind(const nlohmann::json& v) {
  const std::string_view kind = v.type_name();
  return fmt::format("{} {}", kind == "object" || kind == "array" ? "an" : "a", kind);
}

// protobuf 3.21's JSON parser takes a lone value where a list belongs
// ({"constraints": "x"}); a sender who writes that has misread the field, so
// lists, maps and nested objects are checked here first. Unknown names and
// wrong scalar types are left to the parser, which names them well.
std::string json_shape_problem(const nlohmann::json& object, const pb::Descriptor& type,
                               const std::string& path) {
  std::vector<std::pair<const pb::FieldDescriptor*, std::string>> seen;
  for (const auto& [key, value] : object.items()) {
    const pb::FieldDescriptor* f = json_field(type, key);
    if (f == nullptr) continue;
    const std::string where = path.empty() ? key : path + "." + key;
    // "taskId" and "task_id" are one field: given both, which one counts
    // would be up to the parser.
    for (const auto& [field, name] : seen) {
      if (field == f) {
        return fmt::format("{} and {} name the same field", path.empty() ? name : path + "." + name,
                           where);
      }
    }
    seen.emplace_back(f, key);
    if (value.is_null()) continue;
    auto element_problem = [&](const nlohmann::json& v, const std::string& at) -> std::string {
      if (v.is_null()) return "";
      if (!v.is_object()) return fmt::format("{} must be an object, not {}", at, a_kind(v));
      return json_shape_problem(v, *f->message_type(), at);
    };
    if (f->is_map()) {
      if (!value.is_object()) {
        return fmt::format("{} must be an object (a map), not {}", where, a_kind(value));
      }
      const pb::FieldDescriptor* value_field = f->message_type()->FindFieldByNumber(2);
      if (value_field == nullptr || !is_object_message(*value_field)) continue;
      for (const auto& [k, v] : value.items()) {
        if (v.is_null()) continue;
        if (!v.is_object()) {
          return fmt::format("{}.{} must be an object, not {}", where, k, a_kind(v));
        }
        if (auto p = json_shape_problem(v, *value_field->message_type(), where + "." + k);
            !p.empty()) {
          return p;
        }
      }
    } else if (f->is_repeated()) {
      if (!value.is_array()) {
        return fmt::format("{} must be a list, not {}", where, a_kind(value));
      }
      if (!is_object_message(*f)) continue;
      for (std::size_t i = 0; i < value.size(); ++i) {
        if (auto p = element_problem(value[i], fmt::format("{}[{}]", where, i)); !p.empty()) {
          return p;
        }
      }
    } else if (is_object_message(*f)) {
      if (auto p = element_problem(value, where); !p.empty()) return p;
    }
  }
  return "";
}

// Deeper than any agency message goes (a Task holds a Brief holds a list):
// a bound keeps a hostile "[[[[..." from costing more than a refusal.
constexpr int kMaxJsonDepth = 32;

// Offset of the bracket that opens level kMaxJsonDepth + 1, or npos. Counts
// brackets outside strings only; syntax is checked after this.
std::size_t too_deep_at(std::string_view json) {
  int depth = 0;
  bool in_string = false;
  bool escaped = false;
  for (std::size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth) return i;
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return npos;
}

// Reads JSON without building it, to hold it to RFC 8259 (the protobuf
// parser takes trailing commas, single quotes and unknown escapes) and to
// refuse a key given twice in one object, where readers disagree on which
// one counts.
class StrictJson final : public nlohmann::json_sax<nlohmann::json> {
 public:
  // Why the JSON is not strict (empty when it is), and the offset of the
  // offending byte where the reader knows it.
  std::string problem;
  std::size_t at = npos;

  bool null() override { return value(); }
  bool boolean(bool /*unused*/) override { return value(); }
  bool number_integer(number_integer_t /*unused*/) override { return value(); }
  bool number_unsigned(number_unsigned_t /*unused*/) override { return value(); }
  bool number_float(number_float_t /*unused*/, const string_t& /*unused*/) override {
    return value();
  }
  bool string(string_t& /*unused*/) override { return value(); }
  bool binary(binary_t& /*unused*/) override { return value(); }
  bool start_object(std::size_t /*unused*/) override {
    value();
    frames_.push_back(Frame{true, {}, {}, 0});
    return true;
  }
  bool key(string_t& key) override {
    Frame& f = frames_.back();
    if (std::find(f.keys.begin(), f.keys.end(), key) != f.keys.end()) {
      problem = fmt::format("the key \"{}\" appears twice in {}", quote(key), where());
      return false;
    }
    f.keys.push_back(key);
    f.key = key;
    return true;
  }
  bool end_object() override {
    frames_.pop_back();
    return true;
  }
  bool start_array(std::size_t /*unused*/) override {
    value();
    frames_.push_back(Frame{false, {}, {}, 0});
    return true;
  }
  bool end_array() override {
    frames_.pop_back();
    return true;
  }
  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& e) override {
    // nlohmann counts the bytes read, the offending one included.
    at = position == 0 ? 0 : position - 1;
    problem = detail(e.what());
    return false;
  }

 private:
  struct Frame {
    bool object;
    std::vector<std::string> keys;
    std::string key;    // in an object: the key of the value being read
    std::size_t index;  // in an array: the index of the next value
  };

  // Arrays count their elements so where() can name one.
  bool value() {
    if (!frames_.empty() && !frames_.back().object) ++frames_.back().index;
    return true;
  }

  // "the top-level object", "sources[0]", "brief.history[2]".
  std::string where() const {
    if (frames_.size() <= 1) return "the top-level object";
    std::string path;
    for (std::size_t i = 0; i + 1 < frames_.size(); ++i) {
      const Frame& f = frames_[i];
      if (f.object) {
        if (!path.empty()) path += '.';
        path += quote(f.key, 40);
      } else {
        path += fmt::format("[{}]", f.index - 1);
      }
    }
    return path;
  }

  // "[json.exception.parse_error.101] parse error at line 1, column 18:
  // syntax error while parsing object key - unexpected '}'; expected string
  // literal" -> "unexpected '}'; expected string literal".
  static std::string detail(std::string_view what) {
    if (const std::size_t bracket = what.find("] "); bracket != npos) {
      what.remove_prefix(bracket + 2);
    }
    if (const std::size_t column = what.find("column "); column != npos) {
      if (const std::size_t colon = what.find(": ", column); colon != npos) {
        what.remove_prefix(colon + 2);
      }
    }
    if (const std::size_t dash = what.find(" - ");
        what.starts_with("syntax error") && dash != npos) {
      what.remove_prefix(dash + 3);
    }
    return std::string(what);
  }

  std::vector<Frame> frames_;
};

// Why `json` is not strict JSON (`problem` empty when it is).
StrictJson strict_json_check(std::string_view json) {
  StrictJson sax;
  if (const std::size_t at = too_deep_at(json); at != npos) {
    sax.at = at;
    sax.problem = fmt::format("nested deeper than {} levels", kMaxJsonDepth);
    return sax;
  }
  if (!nlohmann::json::sax_parse(json, &sax, nlohmann::json::input_format_t::json,
                                 /*strict=*/true) &&
      sax.problem.empty()) {
    sax.problem = "the JSON reader stopped";
  }
  return sax;
}

// A hint for the mistakes people make most when they write JSON by hand.
std::string_view json_hint(std::string_view json, std::size_t at) {
  if (at >= json.size()) return "";
  if (json[at] == '\'') return " (JSON takes double quotes: \"objective\", not 'objective')";
  if (json[at] == '}' || json[at] == ']') {
    std::size_t before = at;
    while (before > 0 && is_space(json[before - 1])) --before;
    if (before > 0 && json[before - 1] == ',') return " (JSON allows no comma after the last item)";
  }
  return "";
}

// `payload` is the JSON as sent; byte offsets in messages count from its
// first byte, a byte-order mark included.
Result<void> parse_json(pb::Message& out, std::string_view payload) {
  const std::string& type = out.GetDescriptor()->full_name();
  if (std::size_t at = invalid_utf8_at(payload); at != npos) {
    return bad(
        fmt::format("the JSON for {} is not valid UTF-8: invalid UTF-8 at byte {}", type, at));
  }
  const std::string_view json = strip_bom(payload);
  const std::size_t offset = payload.size() - json.size();
  const std::string_view body = trim(json);
  if (body.empty()) return empty_payload(type);
  if (body.front() != '{') {
    return bad(
        fmt::format("the JSON for {} must be an object {{...}}, not {}", type, quote(body, 20)));
  }
  if (const StrictJson check = strict_json_check(json); !check.problem.empty()) {
    if (check.at == npos) return bad(fmt::format("invalid JSON for {}: {}", type, check.problem));
    return bad(fmt::format("invalid JSON at byte {}: {}{} (reading {})", check.at + offset,
                           check.problem, json_hint(json, check.at), type));
  }
  const auto tree = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (tree.is_object()) {
    if (auto problem = json_shape_problem(tree, *out.GetDescriptor(), ""); !problem.empty()) {
      return bad(fmt::format("invalid JSON for {}: {}", type, problem));
    }
  }
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;  // a misspelt field is an error, not silence
  const auto status =
      pb::util::JsonStringToMessage(pb::StringPiece(json.data(), json.size()), &out, options);
  if (!status.ok()) {
    const auto detail = status.message();
    return bad(fmt::format("invalid JSON for {}: {}", type,
                           std::string_view(detail.data(), detail.size())));
  }
  return {};
}

Result<void> parse_text(pb::Message& out, std::string_view text) {
  const pb::Descriptor& type = *out.GetDescriptor();
  const pb::FieldDescriptor* field = text_field(type);
  if (field == nullptr) {
    return bad(fmt::format("{} has no plain-text form: send JSON or protobuf", type.full_name()));
  }
  if (auto reason = not_text_reason(text)) {
    return bad(fmt::format("plain text for {} must be UTF-8 without control characters: {}",
                           type.full_name(), *reason));
  }
  const std::string_view body = trim(text);
  if (body.empty()) return empty_payload(type.full_name());
  out.GetReflection()->SetString(&out, field, std::string(body));
  return {};
}

enum class Format { sniff, protobuf, json, text };

// The format a Content-Type names. Parameters other than a UTF-8 charset
// are ignored; a different charset is refused since we only read UTF-8.
Result<Format> format_for(std::string_view content_type, const std::string& type) {
  const std::string value = lower(trim(content_type));
  std::string_view rest = value;
  const std::size_t semi = rest.find(';');
  const std::string_view media = trim(rest.substr(0, semi));
  rest = semi == npos ? std::string_view() : rest.substr(semi + 1);
  while (!rest.empty()) {
    const std::size_t next = rest.find(';');
    const std::string_view param = trim(rest.substr(0, next));
    rest = next == npos ? std::string_view() : rest.substr(next + 1);
    if (!param.starts_with("charset=")) continue;
    std::string_view charset = trim(param.substr(8));
    if (charset.size() >= 2 && charset.front() == '"' && charset.back() == '"') {
      charset = charset.substr(1, charset.size() - 2);
    }
    if (charset != "utf-8" && charset != "utf8" && charset != "us-ascii") {
      return bad(fmt::format("Content-Type charset {} is not supported for {}: send UTF-8",
                             quote(charset), type));
    }
  }
  if (media == kProtobufContentType || media == "application/x-protobuf") return Format::protobuf;
  if (media == kJsonContentType) return Format::json;
  if (media == kTextContentType) return Format::text;
  return bad(fmt::format("Content-Type {} is not one of {}, {}, {} (expected {})",
                         quote(trim(content_type)), kProtobufContentType, kJsonContentType,
                         kTextContentType, type));
}

Result<void> sniff(pb::Message& out, std::string_view payload) {
  const std::string& type = out.GetDescriptor()->full_name();
  const std::string_view body = strip_bom(payload);
  if (trim(body).empty()) return empty_payload(type);
  if (trim(body).front() == '{') return parse_json(out, payload);

  const std::optional<std::string> not_text = not_text_reason(payload);
  if (!not_text) {
    // Bytes that read as text may still be protobuf: a Mail with only a
    // 40-character body encodes to printable bytes. For a type with a text
    // form only an exact, canonical encoding counts, which human text
    // practically never is.
    const bool has_text_form = text_field(*out.GetDescriptor()) != nullptr;
    if (parse_binary(out, payload).empty() &&
        (!has_text_form || out.SerializeAsString() == payload)) {
      return {};
    }
    out.Clear();
    return parse_text(out, body);
  }
  const std::string problem = parse_binary(out, payload);
  if (problem.empty()) return {};
  return bad(fmt::format(
      "not {}: the bytes are neither JSON, UTF-8 text nor protobuf (not text: {}; not protobuf: "
      "{})",
      type, *not_text, problem));
}

// `value` of message field `field` must be one of `allowed` (or empty when
// `optional`).
Result<void> check_name(const pb::Message& m, std::string_view field, const std::string& value,
                        vocab::Names allowed, bool optional) {
  if (value.empty() && optional) return {};
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return {};
  const std::string& type = m.GetDescriptor()->full_name();
  if (value.empty()) {
    return bad(fmt::format("{}.{} is required: use one of {}", type, field, vocab::join(allowed)));
  }
  return bad(fmt::format("{}.{} is \"{}\"; use one of {}{}", type, field, quote(value),
                         vocab::join(allowed), optional ? ", or leave it empty" : ""));
}

// `value` of message field `field` must look like a stage name (or be empty).
// Which stages exist is the pipeline's (runtime/pipeline.hpp): an agent
// dead-letters a brief for a stage its pipeline does not have.
Result<void> check_stage(const pb::Message& m, std::string_view field, const std::string& value) {
  if (value.empty() || vocab::is_stage_name(value)) return {};
  return bad(
      fmt::format("{}.{} is \"{}\"; a stage is 1 to {} lowercase letters, digits and '-' (like "
                  "ready-for-dev), or empty",
                  m.GetDescriptor()->full_name(), field, quote(value), vocab::kMaxStageName));
}

// Timestamps must be printable as RFC 3339 (years 1 to 9999), or to_json
// and every JSON reader after us fail on them. Numbers must be finite: no
// field of ours means anything by NaN or infinity, and one in a sum (a cost,
// a utilization) spoils every total after it.
Result<void> check_values(const pb::Message& m) {
  constexpr std::int64_t kMinSeconds = -62135596800;  // 0001-01-01T00:00:00Z
  constexpr std::int64_t kMaxSeconds = 253402300799;  // 9999-12-31T23:59:59Z
  const pb::Reflection& r = *m.GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  r.ListFields(m, &fields);
  for (const pb::FieldDescriptor* f : fields) {
    const bool repeated = f->is_repeated();
    const int n = repeated ? r.FieldSize(m, f) : 1;
    if (f->cpp_type() == pb::FieldDescriptor::CPPTYPE_DOUBLE ||
        f->cpp_type() == pb::FieldDescriptor::CPPTYPE_FLOAT) {
      const bool is_double = f->cpp_type() == pb::FieldDescriptor::CPPTYPE_DOUBLE;
      for (int i = 0; i < n; ++i) {
        const double v = is_double ? (repeated ? r.GetRepeatedDouble(m, f, i) : r.GetDouble(m, f))
                                   : (repeated ? r.GetRepeatedFloat(m, f, i) : r.GetFloat(m, f));
        if (!std::isfinite(v)) {
          return bad(fmt::format("{} is {}; it must be a finite number", f->full_name(), v));
        }
      }
      continue;
    }
    if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    for (int i = 0; i < n; ++i) {
      const pb::Message& sub = repeated ? r.GetRepeatedMessage(m, f, i) : r.GetMessage(m, f);
      if (sub.GetDescriptor()->full_name() == "google.protobuf.Timestamp") {
        const pb::Descriptor& d = *sub.GetDescriptor();
        const pb::Reflection& sr = *sub.GetReflection();
        const std::int64_t seconds = sr.GetInt64(sub, d.FindFieldByNumber(1));
        const std::int32_t nanos = sr.GetInt32(sub, d.FindFieldByNumber(2));
        if (seconds < kMinSeconds || seconds > kMaxSeconds || nanos < 0 || nanos > 999999999) {
          return bad(
              fmt::format("{} is out of range (seconds {}, nanos {}): a timestamp lies between "
                          "0001-01-01 and 9999-12-31",
                          f->full_name(), seconds, nanos));
        }
      } else if (auto r2 = check_values(sub); !r2) {
        return r2;
      }
    }
  }
  return {};
}

}  // namespace

Outgoing encode(const pb::Message& message) {
  Outgoing out;
  // Serialising a proto3 message fails only past 2 GiB, far beyond kMaxPayload.
  (void)message.SerializeToString(&out.data);
  out.headers.emplace_back(kTypeHeader, message.GetDescriptor()->full_name());
  out.headers.emplace_back(kContentTypeHeader, kProtobufContentType);
  out.headers.emplace_back(kProtocolHeader, std::to_string(kProtocolVersion));
  return out;
}

namespace {
std::string json(const pb::Message& message, bool pretty) {
  pb::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  std::string out;
  const auto status = pb::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) {
    // Only a message built in our own code can get here (a decoded one was
    // validated): say so rather than print half a JSON object.
    const auto detail = status.message();
    return fmt::format("<{} cannot be printed as JSON: {}>", message.GetDescriptor()->full_name(),
                       std::string_view(detail.data(), detail.size()));
  }
  if (!pretty) return out;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}
}  // namespace

std::string to_json(const pb::Message& message) { return json(message, false); }
std::string to_pretty_json(const pb::Message& message) { return json(message, true); }

Result<void> decode_into(pb::Message& out, std::string_view payload, const Headers& headers) {
  out.Clear();
  const std::string& type = out.GetDescriptor()->full_name();
  if (payload.size() > kMaxPayload) {
    return bad(fmt::format("payload is {} bytes; the limit is {} (expected {})", payload.size(),
                           kMaxPayload, type));
  }
  if (payload.empty()) return empty_payload(type);

  if (auto sent = find_header(headers, kTypeHeader)) {
    const std::string_view name = trim(*sent);
    if (name != type) {
      if (prototype(name) != nullptr) {
        return bad(fmt::format("got {} where {} was expected", name, type));
      }
      return bad(fmt::format("{} \"{}\" is not an agency message type; expected {}", kTypeHeader,
                             quote(name), type));
    }
  }

  if (auto version = find_header(headers, kProtocolHeader)) {
    const std::string_view v = trim(*version);
    if (v != std::to_string(kProtocolVersion)) {
      return bad(fmt::format(
          "{} \"{}\": this agent speaks protocol {} (docs/PROTOCOL.md, \"Versioning\"); "
          "a role of another version cannot work in this mesh",
          kProtocolHeader, quote(v), kProtocolVersion));
    }
  }

  Format format = Format::sniff;
  if (auto content_type = find_header(headers, kContentTypeHeader);
      content_type && !trim(*content_type).empty()) {
    auto f = format_for(*content_type, type);
    if (!f) return f.error();
    format = *f;
  }

  Result<void> parsed;
  switch (format) {
    case Format::sniff:
      parsed = sniff(out, payload);
      break;
    case Format::json:
      parsed = parse_json(out, payload);
      break;
    case Format::text:
      parsed = parse_text(out, strip_bom(payload));
      break;
    case Format::protobuf:
      if (std::string problem = parse_binary(out, payload); !problem.empty()) {
        parsed = bad(fmt::format("not {} as protobuf: {}", type, problem));
      }
      break;
  }
  if (!parsed) {
    out.Clear();
    return parsed;
  }
  return validate(out);
}

const pb::FieldDescriptor* text_field(const pb::Descriptor& type) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 6> kTextFields = {{
      {"agency.v1.Brief", "objective"},
      {"agency.v1.Question", "text"},
      {"agency.v1.Answer", "text"},
      {"agency.v1.Mail", "body"},
      {"agency.v1.Control", "command"},
      {"agency.v1.WorkLog", "summary"},
  }};
  for (const auto& [name, field] : kTextFields) {
    if (type.full_name() == name) return type.FindFieldByName(std::string(field));
  }
  return nullptr;
}

namespace {

// A name that is safe as a subject token and a KV key.
bool is_identifier(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

}  // namespace

Result<void> validate(const pb::Message& message) {
  if (auto r = check_values(message); !r) return r;

  if (const auto* b = dynamic_cast<const v1::Brief*>(&message)) {
    if (trim(b->objective()).empty() && trim(b->task_id()).empty()) {
      return bad(
          "agency.v1.Brief needs an objective (what must be achieved) or the task_id of "
          "the task it advances");
    }
    if (auto r = check_stage(message, "stage", b->stage()); !r) return r;
    if (vocab::is_end(b->stage())) {
      return bad(fmt::format(
          "agency.v1.Brief.stage is \"{}\", an end of a task: a brief is for a stage some role "
          "works (or leave it empty for the role's own)",
          b->stage()));
    }
    if (auto r = check_name(message, "priority", b->priority(), vocab::kPriorities, true); !r) {
      return r;
    }
    // Both end up in subjects (agency.event.task.<id>, agency.log.<project>)
    // and KV keys: anything else would corrupt a subject on the wire.
    if (!b->task_id().empty() && !is_identifier(b->task_id())) {
      return bad(
          "agency.v1.Brief.task_id must be 1 to 128 letters, digits, '-' or '_' (like "
          "t-20260101-abc123)");
    }
    if (!b->project().empty() && !is_identifier(b->project())) {
      return bad(
          "agency.v1.Brief.project must be 1 to 128 letters, digits, '-' or '_': a "
          "project name from agency.yaml");
    }
    if (b->token_budget() < 0) {
      return bad(fmt::format("agency.v1.Brief.token_budget is {}; use 0 (no budget) or more",
                             b->token_budget()));
    }
  } else if (const auto* t = dynamic_cast<const v1::Task*>(&message)) {
    return check_stage(message, "stage", t->stage());
  } else if (const auto* e = dynamic_cast<const v1::TaskEvent*>(&message)) {
    if (auto r = check_name(message, "kind", e->kind(), vocab::kTaskEventKinds, true); !r) {
      return r;
    }
    if (auto r = check_stage(message, "from_stage", e->from_stage()); !r) {
      return r;
    }
    return check_stage(message, "to_stage", e->to_stage());
  } else if (const auto* s = dynamic_cast<const v1::AgentStatus*>(&message)) {
    return check_name(message, "state", s->state(), vocab::kAgentStates, true);
  } else if (const auto* c = dynamic_cast<const v1::Control*>(&message)) {
    return check_name(message, "command", c->command(), vocab::kControlCommands, false);
  } else if (const auto* q = dynamic_cast<const v1::Question*>(&message)) {
    if (trim(q->text()).empty()) return bad("agency.v1.Question.text is required: ask something");
  } else if (const auto* a = dynamic_cast<const v1::Answer*>(&message)) {
    if (!(a->confidence() >= 0.0 && a->confidence() <= 1.0)) {  // NaN fails too
      return bad(fmt::format("agency.v1.Answer.confidence is {}; it lies between 0 and 1",
                             a->confidence()));
    }
  } else if (const auto* l = dynamic_cast<const v1::Lease*>(&message)) {
    if (auto r = check_name(message, "priority", l->priority(), vocab::kPriorities, true); !r) {
      return r;
    }
    if (l->estimate_tokens() < 0) {
      return bad(fmt::format("agency.v1.Lease.estimate_tokens is {}; use 0 or more",
                             l->estimate_tokens()));
    }
    // An agent names at most a handful of accounts; a list longer than this
    // is no role's configuration.
    constexpr int kMostAccounts = 32;
    if (l->accounts_size() > kMostAccounts || l->limited_size() > kMostAccounts) {
      return bad(
          fmt::format("agency.v1.Lease names {} accounts and {} limited ones; at most {} each",
                      l->accounts_size(), l->limited_size(), kMostAccounts));
    }
  }
  return {};
}

std::unique_ptr<pb::Message> new_message(std::string_view full_name) {
  const pb::Message* p = prototype(full_name);
  if (p == nullptr) return nullptr;
  return std::unique_ptr<pb::Message>(p->New());
}

}  // namespace agency::codec
