// NKeys: the ed25519 user keys a nats-server authenticates clients by
// (the server config holds the public key; only the client holds the seed).
// Encoding as nats-server and the nats tools write them: a prefix byte, the
// key, a CRC-16 (XMODEM), base32 without padding; a user's public key starts
// with 'U', its seed with "SU".
//
// Thread: any; no state.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "bus/result.hpp"

namespace agency::nkeys {

struct UserKey {
  std::string seed;        // "SU...": the secret
  std::string public_key;  // "U...": what a server config names
};

// A fresh user key from the system's random source.
Result<UserKey> generate_user();

// The public key of a user seed; errc::config when `seed` is not one.
Result<std::string> public_key_of(std::string_view seed);

// The user seed in a file: a line starting with "SU" (a bare seed file, or
// the seed block of a creds file as the nats tools write it).
Result<std::string> read_seed(const std::filesystem::path& file);

// A creds file holding `seed`, with `comment` lines (each prefixed "# ")
// above it: readable by read_seed, by nats.c as an NKey seed file
// (NATS_NKEY) and by the nats CLI's --nkey.
std::string seed_file_text(std::string_view seed, std::string_view comment);

}  // namespace agency::nkeys
