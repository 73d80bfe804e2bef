#include "roles/proxy/settings.hpp"

#include <array>
#include <set>
#include <string_view>

namespace agency::config {
namespace {

using Item = Reader::Item;

constexpr std::array<std::string_view, 4> kProxyKeys = {"corpus", "reindex_seconds", "passages",
                                                        "min_confidence"};

constexpr std::array<std::string_view, 2> kCorpusKeys = {"name", "path"};

std::vector<CorpusDir> corpus(Reader& r, const Item& section) {
  std::vector<CorpusDir> out;
  if (section.value.IsNull()) return out;
  const std::string example = "[{name: handbook, path: docs/handbook}]";
  if (!section.value.IsSequence()) {
    r.fail(section,
           "must be a list of directories " + example + ", got " + describe(section.value));
  }
  std::set<std::string> names;
  for (size_t i = 0; i < section.value.size(); ++i) {
    Item entry{YAML::Node(), section.value[i], section.path + "[" + std::to_string(i) + "]"};
    if (!entry.value.IsMap()) {
      r.fail(entry, "must be a map {name: ..., path: ...}, got " + describe(entry.value));
    }
    CorpusDir d;
    bool has_path = false;
    for (const auto& item : r.entries(entry, kCorpusKeys)) {
      auto key = item.key.Scalar();
      auto v = r.string_value(item, key == "name" ? "a name" : "a directory path");
      if (!v || v->empty()) r.fail(item, "must not be empty");
      if (key == "name") {
        if (!is_token(*v)) r.fail(item, "must be letters, digits, '-' and '_', got " + *v);
        d.name = *v;
      } else {
        d.path = r.resolve(*v);
        has_path = true;
      }
    }
    if (!has_path) r.fail(entry, "needs a path: the directory to index");
    if (d.name.empty()) d.name = d.path.filename().string();
    if (!names.insert(d.name).second) {
      r.fail(entry, "the corpus name '" + d.name + "' is given twice; give each a name");
    }
    out.push_back(std::move(d));
  }
  return out;
}

Proxy proxy(Reader& r, const Item& section) {
  Proxy p;
  if (!r.section_map(section, kProxyKeys)) return p;
  for (const auto& item : r.entries(section, kProxyKeys)) {
    auto key = item.key.Scalar();
    if (key == "corpus") {
      p.corpus = corpus(r, item);
    } else if (key == "reindex_seconds") {
      if (auto v = r.int_value(item, 1, 86400)) p.reindex_seconds = *v;
    } else if (key == "passages") {
      if (auto v = r.int_value(item, 1, 50)) p.passages = *v;
    } else if (key == "min_confidence") {
      if (auto v = r.number_value(item, 0, 1)) p.min_confidence = *v;
    }
  }
  return p;
}

}  // namespace

void read_proxy(Reader& reader, const Reader::Item& section, Config& config) {
  proxy(config) = proxy(reader, section);
}

}  // namespace agency::config
