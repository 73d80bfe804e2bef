// NKeys as nats-server reads them: the encoding is checked here, the
// server's acceptance of it by tests/integration/auth_test.cpp.
#include "bus/nkeys.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include "tests/support/temp_dir.hpp"

namespace nkeys = agency::nkeys;

TEST_CASE("nkeys: a new user key: seed SU..., public U..., the public key derives from the seed") {
  auto a = nkeys::generate_user();
  auto b = nkeys::generate_user();
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->seed.rfind("SU", 0) == 0);
  CHECK(a->seed.size() == 58);
  CHECK(a->public_key.rfind('U', 0) == 0);
  CHECK(a->public_key.size() == 56);
  CHECK(a->seed != b->seed);
  auto pub = nkeys::public_key_of(a->seed);
  REQUIRE(pub.ok());
  CHECK(*pub == a->public_key);
  CHECK(*nkeys::public_key_of(b->seed) == b->public_key);
}

TEST_CASE("nkeys: what is no user seed is refused with a reason") {
  auto key = nkeys::generate_user();
  REQUIRE(key.ok());
  std::string flipped = key->seed;
  flipped[10] = flipped[10] == 'A' ? 'B' : 'A';
  auto bad = nkeys::public_key_of(flipped);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("checksum") != std::string::npos);
  CHECK_FALSE(nkeys::public_key_of(key->public_key).ok());  // a public key
  CHECK_FALSE(nkeys::public_key_of("SU1").ok());            // not base32
  CHECK_FALSE(nkeys::public_key_of("").ok());
}

TEST_CASE("nkeys: a creds file holds the seed below its comment and reads back") {
  agency::test::TempDir dir;
  auto key = nkeys::generate_user();
  REQUIRE(key.ok());
  const auto file = dir.path() / "x.creds";
  const std::string text = nkeys::seed_file_text(key->seed, "for builder-1\nkeep it secret");
  CHECK(text.find("# for builder-1\n# keep it secret\n") == 0);
  CHECK(text.find("-----BEGIN USER NKEY SEED-----\n" + key->seed + "\n") != std::string::npos);
  std::ofstream(file) << text;
  auto seed = nkeys::read_seed(file);
  REQUIRE(seed.ok());
  CHECK(*seed == key->seed);

  std::ofstream(dir.path() / "empty.creds") << "# nothing here\n";
  CHECK_FALSE(nkeys::read_seed(dir.path() / "empty.creds").ok());
  CHECK_FALSE(nkeys::read_seed(dir.path() / "missing.creds").ok());
}
