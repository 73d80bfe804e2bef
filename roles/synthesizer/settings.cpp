#include "roles/synthesizer/settings.hpp"

#include <array>
#include <set>
#include <string_view>

namespace agency::config {
namespace {

using Item = Reader::Item;

constexpr std::array<std::string_view, 3> kSynthesizerKeys = {"digest_at", "time_zone", "dir"};

Synthesizer synthesizer(Reader& r, const Item& section) {
  Synthesizer s;
  if (!r.section_map(section, kSynthesizerKeys)) return s;
  for (const auto& item : r.entries(section, kSynthesizerKeys)) {
    auto key = item.key.Scalar();
    if (key == "digest_at") {
      if (auto v = r.string_value(item, "a time of day (04:00)")) {
        const bool ok = v->size() == 5 && (*v)[2] == ':' && std::isdigit((*v)[0]) != 0 &&
                        std::isdigit((*v)[1]) != 0 && std::isdigit((*v)[3]) != 0 &&
                        std::isdigit((*v)[4]) != 0 && std::stoi(v->substr(0, 2)) < 24 &&
                        std::stoi(v->substr(3, 2)) < 60;
        if (!ok) r.fail(item, "must be a time of day HH:MM (04:00), got " + describe(item.value));
        s.digest_at = *v;
      }
    } else if (key == "time_zone") {
      if (auto v = r.string_value(item, "a time zone name (Europe/Berlin)")) s.time_zone = *v;
    } else if (key == "dir") {
      if (auto v = r.string_value(item, "a directory path")) {
        if (!v->empty()) s.dir = r.resolve(*v);
      }
    }
  }
  return s;
}

}  // namespace

void read_synthesizer(Reader& reader, const Reader::Item& section, Config& config) {
  synthesizer(config) = synthesizer(reader, section);
}

}  // namespace agency::config
