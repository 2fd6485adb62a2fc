#include "config/secret.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace sidecache::config {
namespace {

constexpr std::size_t kMaxSecretBytes = 64 * 1024;

[[noreturn]] void fail(const SecretSource& secret, const std::string& reason) {
  throw ConfigError((secret.where.empty() ? std::string("secret") : secret.where) + ": " + reason);
}

std::string read_file(const SecretSource& secret) {
  std::ifstream in(secret.value, std::ios::binary);
  if (!in) fail(secret, "cannot read password file " + secret.value + ": " + std::strerror(errno));
  std::string text;
  text.resize(kMaxSecretBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) fail(secret, "cannot read password file " + secret.value + ": read error");
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxSecretBytes)
    fail(secret, "password file " + secret.value + " is too large");
  if (!text.empty() && text.back() == '\n') text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (text.empty()) fail(secret, "password file " + secret.value + " is empty");
  return text;
}

}  // namespace

std::string read_secret(const SecretSource& secret) {
  switch (secret.kind) {
    case SecretSource::Kind::kNone:
      return {};
    case SecretSource::Kind::kLiteral:
      return secret.value;
    case SecretSource::Kind::kFile:
      return read_file(secret);
    case SecretSource::Kind::kEnv: {
      const char* value = std::getenv(secret.value.c_str());
      if (value == nullptr) fail(secret, "environment variable " + secret.value + " is not set");
      if (*value == '\0') fail(secret, "environment variable " + secret.value + " is empty");
      return value;
    }
  }
  return {};
}

std::string describe_secret(const SecretSource& secret) {
  switch (secret.kind) {
    case SecretSource::Kind::kNone:
      return "none";
    case SecretSource::Kind::kLiteral:
      return "the config file";
    case SecretSource::Kind::kFile:
      return "file " + secret.value;
    case SecretSource::Kind::kEnv:
      return "environment variable " + secret.value;
  }
  return "none";
}

}  // namespace sidecache::config
