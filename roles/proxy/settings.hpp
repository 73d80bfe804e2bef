// agency.yaml's `proxy:` section: the proxy's own settings, read by the
// role (config::read_proxy, its catalog entry's section reader) with the
// errors every section gives (runtime/config_reader.hpp). docs/CONFIG.md
// lists the keys.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "runtime/config.hpp"
#include "runtime/config_reader.hpp"

namespace agency::config {

// The knowledge proxy (roles/proxy): the corpus it indexes and answers from.
struct CorpusDir {
  std::string name;            // how sources are named: <name>/<path>:<lines>
  std::filesystem::path path;  // a directory (relative paths: to the config file)
};
struct Proxy {
  std::vector<CorpusDir> corpus;
  // How often the index looks for changed, new and removed files.
  int reindex_seconds = 60;
  // Passages handed to the engine per question.
  int passages = 6;
  // Below this retrieval confidence the proxy says the corpus does not
  // cover the question, without asking its engine to make something up.
  double min_confidence = 0.35;
};

// The section as read, or its defaults when the file has none.
inline const Proxy& proxy(const Config& config) { return section<Proxy>(config, "proxy"); }
inline Proxy& proxy(Config& config) { return section<Proxy>(config, "proxy"); }

// Reads the section into `config` (the catalog entry's section reader).
void read_proxy(Reader& reader, const Reader::Item& section, Config& config);

}  // namespace agency::config
