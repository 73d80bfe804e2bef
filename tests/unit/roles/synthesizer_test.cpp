#include <doctest/doctest.h>

#include "roles/synthesizer/synthesizer.hpp"

TEST_CASE("synthesizer: has its name") { CHECK(agency::roles::Synthesizer().name() == "synthesizer"); }
