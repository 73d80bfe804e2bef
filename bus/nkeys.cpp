#include "bus/nkeys.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

namespace agency::nkeys {
namespace {

using Bytes = std::vector<std::uint8_t>;

// The prefixes nats-server knows (nkeys: PrefixByteSeed, PrefixByteUser).
constexpr std::uint8_t kPrefixSeed = 18U << 3U;  // 'S'
constexpr std::uint8_t kPrefixUser = 20U << 3U;  // 'U'
constexpr std::size_t kKeyBytes = 32;
constexpr std::string_view kBase32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

// CRC-16/XMODEM (polynomial 0x1021, initial 0), as nkeys computes it.
std::uint16_t crc16(const Bytes& data) {
  std::uint16_t crc = 0;
  for (std::uint8_t b : data) {
    crc = static_cast<std::uint16_t>(crc ^ (static_cast<std::uint16_t>(b) << 8U));
    for (int i = 0; i < 8; ++i) {
      crc = (crc & 0x8000U) != 0 ? static_cast<std::uint16_t>((crc << 1U) ^ 0x1021U)
                                 : static_cast<std::uint16_t>(crc << 1U);
    }
  }
  return crc;
}

std::string base32(const Bytes& data) {
  std::string out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (std::uint8_t b : data) {
    buffer = (buffer << 8U) | b;
    bits += 8;
    while (bits >= 5) {
      out += kBase32[(buffer >> static_cast<unsigned>(bits - 5)) & 31U];
      bits -= 5;
    }
  }
  if (bits > 0) out += kBase32[(buffer << static_cast<unsigned>(5 - bits)) & 31U];
  return out;
}

Result<Bytes> unbase32(std::string_view text) {
  Bytes out;
  std::uint32_t buffer = 0;
  int bits = 0;
  for (char c : text) {
    auto at = kBase32.find(c);
    if (at == std::string_view::npos) {
      return make_error(errc::config,
                        "not an NKey: '" + std::string(1, c) + "' is no base32 letter");
    }
    buffer = (buffer << 5U) | static_cast<std::uint32_t>(at);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<std::uint8_t>((buffer >> static_cast<unsigned>(bits - 8)) & 0xFFU));
      bits -= 8;
    }
  }
  return out;
}

// Appends the CRC little-endian, as nkeys does.
std::string with_crc(Bytes raw) {
  const std::uint16_t crc = crc16(raw);
  raw.push_back(static_cast<std::uint8_t>(crc & 0xFFU));
  raw.push_back(static_cast<std::uint8_t>(crc >> 8U));
  return base32(raw);
}

std::string encode_public(const Bytes& key) {
  Bytes raw{kPrefixUser};
  raw.insert(raw.end(), key.begin(), key.end());
  return with_crc(std::move(raw));
}

std::string encode_seed(const Bytes& seed) {
  Bytes raw{static_cast<std::uint8_t>(kPrefixSeed | (kPrefixUser >> 5U)),
            static_cast<std::uint8_t>((kPrefixUser & 31U) << 3U)};
  raw.insert(raw.end(), seed.begin(), seed.end());
  return with_crc(std::move(raw));
}

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};

Result<Bytes> ed25519_public(const Bytes& seed) {
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
  if (!key) return make_error(errc::internal, "OpenSSL cannot make an ed25519 key");
  Bytes pub(kKeyBytes);
  std::size_t len = pub.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), pub.data(), &len) != 1 || len != kKeyBytes) {
    return make_error(errc::internal, "OpenSSL cannot derive an ed25519 public key");
  }
  return pub;
}

}  // namespace

Result<UserKey> generate_user() {
  Bytes seed(kKeyBytes);
  if (RAND_bytes(seed.data(), static_cast<int>(seed.size())) != 1) {
    return make_error(errc::internal, "no random bytes for a new NKey (OpenSSL RAND_bytes)");
  }
  auto pub = ed25519_public(seed);
  if (!pub) return pub.error();
  return UserKey{encode_seed(seed), encode_public(*pub)};
}

Result<std::string> public_key_of(std::string_view seed) {
  auto raw = unbase32(seed);
  if (!raw) return raw.error();
  if (raw->size() != 2 + kKeyBytes + 2) {
    return make_error(errc::config, "not an NKey seed: wrong length");
  }
  const std::uint16_t crc =
      static_cast<std::uint16_t>((*raw)[raw->size() - 2] | ((*raw)[raw->size() - 1] << 8U));
  raw->resize(raw->size() - 2);
  if (crc16(*raw) != crc) return make_error(errc::config, "not an NKey seed: bad checksum");
  const std::uint8_t b0 = (*raw)[0];
  const std::uint8_t b1 = (*raw)[1];
  if ((b0 & 0xF8U) != kPrefixSeed) return make_error(errc::config, "not an NKey seed");
  const auto kind = static_cast<std::uint8_t>(((b0 & 7U) << 5U) | ((b1 & 0xF8U) >> 3U));
  if (kind != kPrefixUser) {
    return make_error(errc::config, "an NKey seed, but not a user's (it does not start with SU)");
  }
  Bytes key(raw->begin() + 2, raw->end());
  auto pub = ed25519_public(key);
  if (!pub) return pub.error();
  return encode_public(*pub);
}

Result<std::string> read_seed(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return make_error(errc::config, "cannot read NKey file " + file.string());
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    auto start = line.find_first_not_of(" \t");
    if (start == std::string::npos) continue;
    std::string_view l(line);
    l.remove_prefix(start);
    if (l.rfind("SU", 0) == 0) return std::string(l);
  }
  return make_error(errc::config, file.string() + " holds no NKey user seed (a line starting SU)");
}

std::string seed_file_text(std::string_view seed, std::string_view comment) {
  std::ostringstream out;
  std::istringstream lines{std::string(comment)};
  std::string line;
  while (std::getline(lines, line)) out << "# " << line << '\n';
  out << "-----BEGIN USER NKEY SEED-----\n" << seed << "\n------END USER NKEY SEED------\n";
  return out.str();
}

}  // namespace agency::nkeys
