// Backend credentials and TLS keys: pool and per-node credentials, db, the tls section, and the
// warnings for a literal password and verify: false.
#include <catch2/catch.hpp>

#include "config/config.hpp"
#include "error_of.hpp"

namespace sidecache::config {
namespace {

using testing::error_of;

const std::string kNodes = "pool:\n  nodes: [\"127.0.0.1:7001:1\"]\n";

bool has_warning(const Config& c, const std::string& text) {
  for (const auto& w : c.warnings) {
    if (w.find(text) != std::string::npos) return true;
  }
  return false;
}

TEST_CASE("pool credentials, db and tls are read; per-node credentials override", "[config]") {
  const auto c = load_string(
      "pool:\n"
      "  username: app\n"
      "  password_file: /run/secrets/redis\n"
      "  db: 3\n"
      "  tls: {server_name: redis.internal, min_version: \"1.3\"}\n"
      "  nodes:\n"
      "    - {address: \"127.0.0.1:7001\"}\n"
      "    - {address: \"127.0.0.1:7002\", username: ro, password_env: RO_PW}\n",
      "t.yaml");
  CHECK(c.pool.username == "app");
  CHECK(c.pool.password.kind == SecretSource::Kind::kFile);
  CHECK(c.pool.password.value == "/run/secrets/redis");
  CHECK(c.pool.db == 3);
  CHECK(c.pool.tls.enabled);
  CHECK(c.pool.tls.verify);
  CHECK(c.pool.tls.server_name == "redis.internal");
  CHECK(c.pool.tls.min_version == "1.3");
  CHECK_FALSE(c.pool.nodes[0].username.has_value());
  CHECK(c.pool.nodes[0].password.empty());
  CHECK(c.pool.nodes[1].username == "ro");
  CHECK(c.pool.nodes[1].password.kind == SecretSource::Kind::kEnv);
  CHECK(c.warnings.empty());
}

TEST_CASE("a literal password and verify: false are warned about", "[config]") {
  const auto c = load_string(kNodes + "  password: hunter2\n  tls: {verify: false}\n", "t.yaml");
  CHECK(has_warning(c, "pool.password: the password is written in the config file"));
  CHECK(has_warning(c, "pool.tls.verify: TLS peer verification is off"));
  for (const auto& w : c.warnings) CHECK(w.find("hunter2") == std::string::npos);
}

TEST_CASE("bad credential and tls keys are errors at their key", "[config]") {
  CHECK(error_of(kNodes + "  username: app\n") ==
        "t.yaml:3:13: pool.username: a username needs a password (password_file or "
        "password_env)");
  CHECK(error_of(kNodes + "  password: a\n  password_env: B\n")
            .find("a secret comes from one of password, password_file or password_env") !=
        std::string::npos);
  CHECK(error_of(kNodes + "  tls: {cert_file: /etc/hostname}\n") ==
        "t.yaml:3:20: pool.tls.cert_file: cert_file and key_file go together");
  CHECK(error_of(kNodes + "  tls: {ca_file: /nonexistent/ca.crt}\n") ==
        "t.yaml:3:18: pool.tls.ca_file: cannot read /nonexistent/ca.crt: No such file or "
        "directory");
  CHECK(error_of(kNodes + "  tls: {min_version: \"1.1\"}\n").find("pool.tls.min_version") !=
        std::string::npos);
  CHECK(error_of(kNodes + "  tls: {verfy: true}\n").find("pool.tls") != std::string::npos);
}

}  // namespace
}  // namespace sidecache::config
