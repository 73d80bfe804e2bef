#include <doctest/doctest.h>

#include "roles/sweeper/sweeper.hpp"

TEST_CASE("sweeper: has its name") { CHECK(agency::roles::Sweeper().name() == "sweeper"); }
