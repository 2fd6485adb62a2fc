#include "db/client_library.hpp"

#include <dlfcn.h>

namespace sidecache::db {

void* open_library(const ClientLibrary& library, std::string& error) {
  const std::string soname(library.soname);
  // RTLD_LOCAL: the library's symbols stay out of the global scope (libpq and Connector/C both
  // bring their own copies of common names).
  void* handle = ::dlopen(soname.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    error = std::string(library.what) + " client library " + soname + " not found: install " +
            std::string(library.package) + " (" + (why ? why : "dlopen failed") + ")";
  }
  return handle;
}

void* find_function(void* handle, const ClientLibrary& library, const char* name,
                    std::string& error) {
  ::dlerror();
  void* address = ::dlsym(handle, name);
  if (address == nullptr) {
    const char* why = ::dlerror();
    error = std::string(library.what) + " client library " + std::string(library.soname) +
            " has no " + name + ": install a newer " + std::string(library.package) + " (" +
            (why ? why : "null symbol") + ")";
  }
  return address;
}

}  // namespace sidecache::db
