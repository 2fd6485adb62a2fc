#pragma once

#include "config/config.hpp"

namespace sidecache::app {

// Installs the process logger (stderr): text lines or JSON lines, at the configured level.
// Throws std::invalid_argument for an unknown level.
void setup_logging(const config::LoggingConfig& logging);

}  // namespace sidecache::app
