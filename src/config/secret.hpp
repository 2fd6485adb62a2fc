// Reading the secrets the config names (passwords): from a file, an environment variable or a
// literal. Control plane: called when a connection is opened or the config is (re)loaded, never
// per request. Messages name the file or variable, never the value.
#pragma once

#include <string>

#include "config/config.hpp"

namespace sidecache::config {

// The secret's current value: the file's content without its trailing line break ("\n" or
// "\r\n"), the variable's value, or the literal. Throws ConfigError "where: reason" when the
// file cannot be read, the variable is unset, or the value is empty. An empty source gives "".
std::string read_secret(const SecretSource& secret);

// What the value comes from, for logs: "file /run/secrets/redis", "environment variable
// REDIS_PASSWORD", "the config file", or "none".
std::string describe_secret(const SecretSource& secret);

}  // namespace sidecache::config
