// Replays fuzz corpora through the fuzz targets without libFuzzer (g++ and Asan builds).
// Usage: fuzz_replay request=<dir|file> reply=<dir|file> json=<dir|file> config=<dir|file> ...
// Fails if a named path holds no input, so a missing corpus cannot pass silently.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

int fuzz_request_parser(const std::uint8_t* data, std::size_t size);
int fuzz_reply_framer(const std::uint8_t* data, std::size_t size);
int fuzz_json_row(const std::uint8_t* data, std::size_t size);
int fuzz_config(const std::uint8_t* data, std::size_t size);

namespace {

namespace fs = std::filesystem;

std::vector<fs::path> inputs(const fs::path& path) {
  std::vector<fs::path> files;
  if (fs::is_regular_file(path)) {
    files.push_back(path);
  } else if (fs::is_directory(path)) {
    for (const auto& entry : fs::recursive_directory_iterator(path)) {
      if (entry.is_regular_file()) files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s request=<path> reply=<path> json=<path> config=<path>\n",
                 argv[0]);
    return 2;
  }
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const std::size_t eq = arg.find('=');
    const std::string_view target = arg.substr(0, eq);
    auto* run = target == "request"  ? &fuzz_request_parser
                : target == "reply"  ? &fuzz_reply_framer
                : target == "json"   ? &fuzz_json_row
                : target == "config" ? &fuzz_config
                                     : nullptr;
    if (eq == std::string_view::npos || run == nullptr) {
      std::fprintf(stderr, "bad argument: %s\n", argv[i]);
      return 2;
    }
    const auto files = inputs(fs::path(std::string(arg.substr(eq + 1))));
    if (files.empty()) {
      std::fprintf(stderr, "no inputs in %s\n", argv[i]);
      return 1;
    }
    for (const auto& file : files) {
      std::ifstream in(file, std::ios::binary);
      const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
      run(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    }
    std::printf("%s: %zu inputs replayed\n", argv[i], files.size());
  }
  return 0;
}
