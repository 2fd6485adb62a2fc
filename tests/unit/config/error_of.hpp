// Shared by the config tests: the message a YAML text fails to load with.
#pragma once

#include <string>

#include "config/config.hpp"

namespace sidecache::config::testing {

// The ConfigError message loading `yaml` (named "t.yaml") throws, or "(no error)".
inline std::string error_of(const std::string& yaml) {
  try {
    load_string(yaml, "t.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace sidecache::config::testing
