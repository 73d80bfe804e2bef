#include <doctest/doctest.h>

#include "roles/proxy/proxy.hpp"

TEST_CASE("proxy: has its name") { CHECK(agency::roles::Proxy().name() == "proxy"); }
