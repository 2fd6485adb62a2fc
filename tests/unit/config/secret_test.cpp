// Secrets: read from a file (line break trimmed, re-read each time), an environment variable or
// a literal; messages name where the secret comes from, never its value.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "config/secret.hpp"

namespace sidecache::config {
namespace {

std::filesystem::path temp_file(const std::string& name, const std::string& content) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("sidecache-secret-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

std::string message_of(const SecretSource& secret) {
  try {
    (void)read_secret(secret);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST_CASE("a file secret loses one trailing line break and is re-read each time", "[secret]") {
  const auto path = temp_file("file", "s3cret\r\n");
  SecretSource secret{SecretSource::Kind::kFile, path.string(), "a.yaml:3:5"};
  CHECK(read_secret(secret) == "s3cret");
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "rotated\n\n";
  CHECK(read_secret(secret) == "rotated\n");
  std::filesystem::remove(path);
  const auto message = message_of(secret);
  CHECK(message.rfind("a.yaml:3:5: cannot read password file ", 0) == 0);
}

TEST_CASE("an empty secret file or variable is an error naming it, not the value", "[secret]") {
  const auto path = temp_file("empty", "\n");
  CHECK(message_of({SecretSource::Kind::kFile, path.string(), "a.yaml:1:1"}) ==
        "a.yaml:1:1: password file " + path.string() + " is empty");
  std::filesystem::remove(path);
  ::unsetenv("SIDECACHE_TEST_SECRET");
  CHECK(message_of({SecretSource::Kind::kEnv, "SIDECACHE_TEST_SECRET", "a.yaml:2:1"}) ==
        "a.yaml:2:1: environment variable SIDECACHE_TEST_SECRET is not set");
  ::setenv("SIDECACHE_TEST_SECRET", "from-env", 1);
  CHECK(read_secret({SecretSource::Kind::kEnv, "SIDECACHE_TEST_SECRET", ""}) == "from-env");
  ::unsetenv("SIDECACHE_TEST_SECRET");
}

TEST_CASE("literal and absent secrets", "[secret]") {
  CHECK(read_secret({SecretSource::Kind::kLiteral, "pw", ""}) == "pw");
  CHECK(read_secret({}) == "");
  CHECK(describe_secret({}) == "none");
  CHECK(describe_secret({SecretSource::Kind::kLiteral, "pw", ""}) == "the config file");
  CHECK(describe_secret({SecretSource::Kind::kEnv, "X", ""}) == "environment variable X");
}

}  // namespace
}  // namespace sidecache::config
