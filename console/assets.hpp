// The page's files (console/assets/), embedded in the binary at build time
// by console/embed.cmake: no files to install, nothing fetched at run time.
#pragma once

#include <string_view>

namespace agency::console {

struct Asset {
  std::string_view body;
  std::string_view type;  // its Content-Type
};

// "/index.html", "/app.js", ...; nullptr for any other path.
const Asset* find_asset(std::string_view path);

}  // namespace agency::console
