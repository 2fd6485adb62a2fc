// The error texts live in resp/errors.hpp (every module answers with them); dispatch code names
// them dispatch::errors, as before.
#pragma once

#include "resp/errors.hpp"

namespace sidecache::dispatch {
namespace errors = resp::errors;
}  // namespace sidecache::dispatch
