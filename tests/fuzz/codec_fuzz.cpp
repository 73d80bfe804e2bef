// Fuzz target: bus/codec.hpp decode_into for every agency.v1 message type,
// with and without headers.
//
// Input layout: byte 0 picks the message type (modulo their number), byte 1
// the headers (modulo 6, see Headers below), the rest is the payload. In
// mode 5 the payload starts with header lines "Key: value" up to the first
// blank line, so the fuzzer also writes odd headers.
//
// Promises checked beyond "no crash, no UB, no leak" (bus/codec.hpp):
//  - every message type of every schema file is known to new_message();
//  - a message decode_into accepted, once encoded, decodes again to the
//    same message: what one agent accepts it can pass on (unless it is
//    all defaults, which encodes to an empty payload);
//  - its JSON form (to_json) decodes again as JSON.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bus/codec.hpp"
#include "tests/fuzz/fuzz.hpp"

namespace pb = google::protobuf;
using namespace agency;

namespace {

// Every message type of the schema files (AGENCY_FUZZ_PROTOS, the list in
// schemas/CMakeLists.txt, comma-separated), checked once at start.
const std::vector<std::string>& type_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    const std::string_view all = AGENCY_FUZZ_PROTOS;
    std::size_t start = 0;
    while (start <= all.size()) {
      std::size_t end = all.find(',', start);
      if (end == std::string_view::npos) end = all.size();
      const std::string file(all.substr(start, end - start));
      start = end + 1;
      if (file.empty()) continue;
      const pb::FileDescriptor* fd = pb::DescriptorPool::generated_pool()->FindFileByName(file);
      AGENCY_FUZZ_CHECK(fd != nullptr, "a schema file is not linked into agency::schemas");
      for (int i = 0; i < fd->message_type_count(); ++i) {
        const std::string& name = fd->message_type(i)->full_name();
        AGENCY_FUZZ_CHECK(codec::new_message(name) != nullptr,
                          "codec::new_message() does not know a message type of the schema");
        out.push_back(name);
      }
    }
    AGENCY_FUZZ_CHECK(!out.empty(), "no message types found");
    return out;
  }();
  return names;
}

std::string deterministic_bytes(const pb::Message& m) {
  std::string out;
  pb::io::StringOutputStream stream(&out);
  pb::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  m.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

// Mode 5: "Key: value" lines up to the first blank line, then the payload.
// Without a blank line it is all payload and no headers.
Headers split_headers(std::string_view& payload) {
  Headers headers;
  const std::size_t blank = payload.find("\n\n");
  if (blank == std::string_view::npos) return headers;
  std::string_view block = payload.substr(0, blank);
  payload.remove_prefix(blank + 2);
  while (!block.empty()) {
    std::size_t eol = block.find('\n');
    std::string_view line = block.substr(0, eol);
    block.remove_prefix(eol == std::string_view::npos ? block.size() : eol + 1);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  return headers;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& names = type_names();
  if (size < 2) return 0;
  const std::string& type = names[data[0] % names.size()];
  const int mode = data[1] % 6;
  std::string_view payload = fuzz::text(data + 2, size - 2);

  Headers headers;
  switch (mode) {
    case 0:  // none: the format is sniffed
      break;
    case 1:
      headers = {
          {std::string(codec::kTypeHeader), type},
          {std::string(codec::kContentTypeHeader), std::string(codec::kProtobufContentType)}};
      break;
    case 2:
      headers = {{std::string(codec::kTypeHeader), type},
                 {std::string(codec::kContentTypeHeader), std::string(codec::kJsonContentType)}};
      break;
    case 3:
      headers = {{std::string(codec::kContentTypeHeader), std::string(codec::kTextContentType)}};
      break;
    case 4:  // another type's name: always refused
      headers = {{std::string(codec::kTypeHeader), names[(data[0] + 1U) % names.size()]}};
      break;
    default:
      headers = split_headers(payload);
      break;
  }

  auto message = codec::new_message(type);
  auto decoded = codec::decode_into(*message, payload, headers);
  if (mode == 4 && names.size() > 1)
    AGENCY_FUZZ_CHECK(!decoded.ok(), "a mismatched type was accepted");
  if (!decoded.ok()) {
    AGENCY_FUZZ_CHECK(!decoded.error().message.empty(), "a refusal without a reason");
    return 0;
  }

  const Outgoing wire = codec::encode(*message);
  // An all-default message encodes to no bytes, which decode_into refuses
  // as an empty payload by design: nothing to compare.
  if (wire.data.empty()) return 0;
  auto again = codec::new_message(type);
  AGENCY_FUZZ_CHECK(codec::decode_into(*again, wire.data, wire.headers).ok(),
                    "an accepted message, encoded, is refused");
  AGENCY_FUZZ_CHECK(deterministic_bytes(*again) == deterministic_bytes(*message),
                    "an accepted message, encoded and decoded, changed");

  const std::string json = codec::to_json(*message);
  auto from_json = codec::new_message(type);
  AGENCY_FUZZ_CHECK(codec::decode_into(*from_json, json,
                                       {{std::string(codec::kContentTypeHeader),
                                         std::string(codec::kJsonContentType)}})
                        .ok(),
                    "an accepted message's JSON is refused");
  return 0;
}
