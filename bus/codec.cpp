#include "bus/codec.hpp"

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>
#include <google/protobuf/unknown_field_set.h>
#include <google/protobuf/util/json_util.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
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
#include "bus/vocabulary.hpp"

namespace agency::codec {
namespace {

namespace pb = google::protobuf;
namespace vocab = agency::vocabulary;

constexpr std::string_view kOurPackage = "agency.v1.";
constexpr std::size_t npos = std::string_view::npos;

// Every message of agency.v1. Naming each default instance here keeps its
// .pb.cc object (and so its descriptor) in the link even though the schemas
// live in a static library; new_message() looks types up in this list.
const std::array<const pb::Message*, 21>& prototypes() {
  static const std::array<const pb::Message*, 21> all = {
      &v1::Brief::default_instance(),       &v1::Task::default_instance(),
      &v1::StageChange::default_instance(), &v1::TaskEvent::default_instance(),
      &v1::AgentStatus::default_instance(), &v1::Question::default_instance(),
      &v1::Source::default_instance(),      &v1::Answer::default_instance(),
      &v1::Mail::default_instance(),        &v1::UsageSample::default_instance(),
      &v1::Lease::default_instance(),       &v1::LeaseReply::default_instance(),
      &v1::Settle::default_instance(),      &v1::WorkLog::default_instance(),
      &v1::Header::default_instance(),      &v1::DeadLetter::default_instance(),
      &v1::Control::default_instance(),     &v1::LimitReading::default_instance(),
      &v1::FleetEvent::default_instance(),  &v1::ScaleRequest::default_instance(),
      &v1::ScaleReply::default_instance(),
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

Error bad(std::string message) { return Error{errc::bad_payload, std::move(message)}; }

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

// Offset of the first byte that does not start a valid UTF-8 sequence
// (overlong forms, surrogates and code points past U+10FFFF included), or
// npos when all of `s` is valid.
std::size_t invalid_utf8_at(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    std::uint32_t min = 0;
    if ((c & 0xE0U) == 0xC0U) {
      len = 2, cp = c & 0x1FU, min = 0x80;
    } else if ((c & 0xF0U) == 0xE0U) {
      len = 3, cp = c & 0x0FU, min = 0x800;
    } else if ((c & 0xF8U) == 0xF0U) {
      len = 4, cp = c & 0x07U, min = 0x10000;
    } else {
      return i;
    }
    if (s.size() - i < len) return i;
    for (std::size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0U) != 0x80U) return i;
      cp = (cp << 6U) | (cc & 0x3FU);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += len;
  }
  return npos;
}

// Why `s` is not plain text (invalid UTF-8, a control character other than
// tab and line ends), or nullopt when it is.
std::optional<std::string> not_text_reason(std::string_view s) {
  if (std::size_t at = invalid_utf8_at(s); at != npos) {
    return fmt::format("invalid UTF-8 at byte {}", at);
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F) {
      return fmt::format("control character 0x{:02x} at byte {}", c, i);
    }
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
  for (const auto& [key, value] : object.items()) {
    const pb::FieldDescriptor* f = json_field(type, key);
    if (f == nullptr || value.is_null()) continue;
    const std::string where = path.empty() ? key : path + "." + key;
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

Result<void> parse_json(pb::Message& out, std::string_view json) {
  const std::string& type = out.GetDescriptor()->full_name();
  if (std::size_t at = invalid_utf8_at(json); at != npos) {
    return bad(
        fmt::format("the JSON for {} is not valid UTF-8: invalid UTF-8 at byte {}", type, at));
  }
  const std::string_view body = trim(json);
  if (body.empty()) return empty_payload(type);
  if (body.front() != '{') {
    return bad(fmt::format("the JSON for {} must be an object {{...}}, not {}", type,
                           body.substr(0, std::min<std::size_t>(body.size(), 20))));
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
      return bad(fmt::format("Content-Type charset {} is not supported for {}: send UTF-8", charset,
                             type));
    }
  }
  if (media == kProtobufContentType || media == "application/x-protobuf") return Format::protobuf;
  if (media == kJsonContentType) return Format::json;
  if (media == kTextContentType) return Format::text;
  return bad(fmt::format("Content-Type {} is not one of {}, {}, {} (expected {})",
                         trim(content_type), kProtobufContentType, kJsonContentType,
                         kTextContentType, type));
}

Result<void> sniff(pb::Message& out, std::string_view payload) {
  const std::string& type = out.GetDescriptor()->full_name();
  const std::string_view body = strip_bom(payload);
  if (trim(body).empty()) return empty_payload(type);
  if (trim(body).front() == '{') return parse_json(out, body);

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
  return bad(fmt::format("{}.{} is \"{}\"; use one of {}{}", type, field, value,
                         vocab::join(allowed), optional ? ", or leave it empty" : ""));
}

// Timestamps must be printable as RFC 3339 (years 1 to 9999), or to_json
// and every JSON reader after us fail on them.
Result<void> check_timestamps(const pb::Message& m) {
  constexpr std::int64_t kMinSeconds = -62135596800;  // 0001-01-01T00:00:00Z
  constexpr std::int64_t kMaxSeconds = 253402300799;  // 9999-12-31T23:59:59Z
  const pb::Reflection& r = *m.GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  r.ListFields(m, &fields);
  for (const pb::FieldDescriptor* f : fields) {
    if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    const bool repeated = f->is_repeated();
    const int n = repeated ? r.FieldSize(m, f) : 1;
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
      } else if (auto r2 = check_timestamps(sub); !r2) {
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
                             name, type));
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
      parsed = parse_json(out, strip_bom(payload));
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
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
  });
}

}  // namespace

Result<void> validate(const pb::Message& message) {
  if (auto r = check_timestamps(message); !r) return r;

  if (const auto* b = dynamic_cast<const v1::Brief*>(&message)) {
    if (trim(b->objective()).empty() && trim(b->task_id()).empty()) {
      return bad(
          "agency.v1.Brief needs an objective (what must be achieved) or the task_id of "
          "the task it advances");
    }
    if (auto r = check_name(message, "stage", b->stage(), vocab::kBriefStages, true); !r) return r;
    if (auto r = check_name(message, "priority", b->priority(), vocab::kPriorities, true); !r) {
      return r;
    }
    // Both end up in subjects (agency.event.task.<id>, agency.log.<project>)
    // and KV keys: anything else would corrupt a subject on the wire.
    if (!b->task_id().empty() && !is_identifier(b->task_id())) {
      return bad("agency.v1.Brief.task_id must be 1 to 128 letters, digits, '-' or '_' (like "
                 "t-20260101-abc123)");
    }
    if (!b->project().empty() && !is_identifier(b->project())) {
      return bad("agency.v1.Brief.project must be 1 to 128 letters, digits, '-' or '_': a "
                 "project name from agency.yaml");
    }
    if (b->token_budget() < 0) {
      return bad(fmt::format("agency.v1.Brief.token_budget is {}; use 0 (no budget) or more",
                             b->token_budget()));
    }
  } else if (const auto* t = dynamic_cast<const v1::Task*>(&message)) {
    return check_name(message, "stage", t->stage(), vocab::kStages, true);
  } else if (const auto* e = dynamic_cast<const v1::TaskEvent*>(&message)) {
    if (auto r = check_name(message, "kind", e->kind(), vocab::kTaskEventKinds, true); !r) {
      return r;
    }
    if (auto r = check_name(message, "from_stage", e->from_stage(), vocab::kStages, true); !r) {
      return r;
    }
    return check_name(message, "to_stage", e->to_stage(), vocab::kStages, true);
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
  }
  return {};
}

std::unique_ptr<pb::Message> new_message(std::string_view full_name) {
  const pb::Message* p = prototype(full_name);
  if (p == nullptr) return nullptr;
  return std::unique_ptr<pb::Message>(p->New());
}

}  // namespace agency::codec
