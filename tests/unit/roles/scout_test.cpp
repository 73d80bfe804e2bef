#include <doctest/doctest.h>

#include "roles/scout/scout.hpp"

TEST_CASE("scout: has its name") { CHECK(agency::roles::Scout().name() == "scout"); }
