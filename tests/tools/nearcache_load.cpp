// nearcache_load: a GET load generator with Zipf-distributed keys, for the near cache's
// benchmark (scripts/bench_nearcache.py). redis-benchmark draws keys uniformly; a near cache is
// about hot keys.
//
//   nearcache_load --port P [--host 127.0.0.1] [--connections 50] [--pipeline 1]
//                  [--keys 100000] [--zipf 1.0] [--seed 1] [--prefix nc:]
//                  [--seconds 5] [--warmup 1] [--requests N] [--preload VALUE_BYTES]
//
// Keys are PREFIX + the rank as 8 digits: rank 0 is the hottest. Each connection sends
// `pipeline` GETs in one write, waits for all their replies, and sends the next batch (as
// redis-benchmark -P does). A request's latency runs from its batch's write to its reply.
// Requests answered during the warmup are not counted. The run ends after `seconds` (after the
// warmup) or, with --requests, once that many were answered, whichever comes first.
// --preload SETs every key to a value of that many bytes (pipelined, one connection) and exits.
//
// Output: one line of JSON: requests (timed part), total (warmup included), seconds, rps, p50_us,
// p99_us, p999_us, nil (null replies), errors (error replies). Single-threaded (epoll); raw sockets
// and a minimal RESP2/RESP3 reply reader, no hiredis.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  int connections = 50;
  int pipeline = 1;
  std::size_t keys = 100000;
  double zipf = 1.0;
  std::uint64_t seed = 1;
  std::string prefix = "nc:";
  double seconds = 5;
  double warmup = 1;
  std::uint64_t requests = 0;
  long preload = -1;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr, "nearcache_load: %s (see the header of tests/tools/nearcache_load.cpp)\n",
               why);
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view name = argv[i];
    if (i + 1 >= argc) usage("missing value");
    const char* v = argv[++i];
    if (name == "--host")
      o.host = v;
    else if (name == "--port")
      o.port = std::atoi(v);
    else if (name == "--connections")
      o.connections = std::atoi(v);
    else if (name == "--pipeline")
      o.pipeline = std::atoi(v);
    else if (name == "--keys")
      o.keys = std::strtoull(v, nullptr, 10);
    else if (name == "--zipf")
      o.zipf = std::atof(v);
    else if (name == "--seed")
      o.seed = std::strtoull(v, nullptr, 10);
    else if (name == "--prefix")
      o.prefix = v;
    else if (name == "--seconds")
      o.seconds = std::atof(v);
    else if (name == "--warmup")
      o.warmup = std::atof(v);
    else if (name == "--requests")
      o.requests = std::strtoull(v, nullptr, 10);
    else if (name == "--preload")
      o.preload = std::atol(v);
    else
      usage("unknown option");
  }
  if (o.port <= 0 || o.connections <= 0 || o.pipeline <= 0 || o.keys == 0 || o.zipf < 0)
    usage("bad option value");
  return o;
}

// Zipf(s) over ranks 0..n-1 by inverse transform on the cumulative weights 1/(rank+1)^s.
class Zipf {
 public:
  Zipf(std::size_t n, double s, std::uint64_t seed) : cdf_(n), rng_(seed) {
    double sum = 0;
    for (std::size_t i = 0; i < n; ++i) {
      sum += 1.0 / std::pow(static_cast<double>(i + 1), s);
      cdf_[i] = sum;
    }
    for (auto& c : cdf_) c /= sum;
  }
  std::size_t next() {
    const double u = uniform_(rng_);
    const auto it = std::lower_bound(cdf_.begin(), cdf_.end(), u);
    return it == cdf_.end() ? cdf_.size() - 1 : static_cast<std::size_t>(it - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> uniform_{0.0, 1.0};
};

std::string key_of(const Options& o, std::size_t rank) {
  char digits[32];
  std::snprintf(digits, sizeof digits, "%08zu", rank);
  return o.prefix + digits;
}

void append_command(std::string& out, std::initializer_list<std::string_view> args) {
  out += '*';
  out += std::to_string(args.size());
  out += "\r\n";
  for (auto a : args) {
    out += '$';
    out += std::to_string(a.size());
    out += "\r\n";
    out.append(a);
    out += "\r\n";
  }
}

enum class Kind { kValue, kNil, kError };

// Length of one complete reply at the start of `b`, 0 when incomplete.
std::size_t reply_length(std::string_view b, Kind& kind, int depth = 0) {
  if (b.empty() || depth > 8) return 0;
  const auto eol = b.find("\r\n");
  if (eol == std::string_view::npos) return 0;
  const std::size_t head = eol + 2;
  kind = Kind::kValue;
  switch (b[0]) {
    case '+':
    case ':':
    case ',':
    case '#':
      return head;
    case '_':
      kind = Kind::kNil;
      return head;
    case '-':
      kind = Kind::kError;
      return head;
    case '$':
    case '!':
    case '=': {
      const long len = std::strtol(b.data() + 1, nullptr, 10);
      if (len < 0) {
        kind = Kind::kNil;
        return head;
      }
      const std::size_t total = head + static_cast<std::size_t>(len) + 2;
      if (b.size() < total) return 0;
      if (b[0] == '!') kind = Kind::kError;
      return total;
    }
    case '*':
    case '%':
    case '~':
    case '>': {
      long n = std::strtol(b.data() + 1, nullptr, 10);
      if (n < 0) {
        kind = Kind::kNil;
        return head;
      }
      if (b[0] == '%') n *= 2;
      std::size_t at = head;
      for (long i = 0; i < n; ++i) {
        Kind inner;
        const std::size_t len = reply_length(b.substr(at), inner, depth + 1);
        if (len == 0) return 0;
        at += len;
      }
      return at;
    }
    default:
      throw std::runtime_error("unexpected reply byte");
  }
}

int connect_to(const Options& o) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(o.port));
  if (::inet_pton(AF_INET, o.host.c_str(), &addr.sin_addr) != 1)
    throw std::runtime_error("bad host");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

void write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error(std::string("write: ") + std::strerror(errno));
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

// Reads into `buf` (appending); false at end of stream.
bool read_some(int fd, std::string& buf) {
  char chunk[65536];
  for (;;) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(std::string("read: ") + std::strerror(errno));
    if (n == 0) return false;
    buf.append(chunk, static_cast<std::size_t>(n));
    return true;
  }
}

int preload(const Options& o) {
  const int fd = connect_to(o);
  const std::string value(static_cast<std::size_t>(o.preload), 'v');
  constexpr std::size_t kBatch = 1000;
  std::string out, in;
  std::uint64_t errors = 0;
  for (std::size_t first = 0; first < o.keys; first += kBatch) {
    const std::size_t last = std::min(o.keys, first + kBatch);
    out.clear();
    for (std::size_t i = first; i < last; ++i) append_command(out, {"SET", key_of(o, i), value});
    write_all(fd, out);
    std::size_t pending = last - first;
    std::size_t at = 0;
    while (pending > 0) {
      Kind kind;
      const std::size_t len = reply_length(std::string_view(in).substr(at), kind);
      if (len == 0) {
        in.erase(0, at);
        at = 0;
        if (!read_some(fd, in)) throw std::runtime_error("connection closed");
        continue;
      }
      errors += kind == Kind::kError;
      at += len;
      --pending;
    }
    in.erase(0, at);
  }
  ::close(fd);
  std::printf("{\"preloaded\": %zu, \"errors\": %llu}\n", o.keys,
              static_cast<unsigned long long>(errors));
  return errors == 0 ? 0 : 1;
}

struct Conn {
  int fd = -1;
  int outstanding = 0;
  Clock::time_point sent_at;
  std::string in;
};

struct Totals {
  std::uint64_t all = 0, counted = 0, nil = 0, errors = 0;  // all: warmup included
  std::vector<std::uint32_t> latencies_ns;                  // counted requests only
};

class Load {
 public:
  explicit Load(const Options& o) : o_(o), zipf_(o.keys, o.zipf, o.seed) {
    keys_.reserve(o.keys);
    for (std::size_t i = 0; i < o.keys; ++i) {
      std::string cmd;
      append_command(cmd, {"GET", key_of(o, i)});
      keys_.push_back(std::move(cmd));
    }
  }

  int run() {
    const int ep = ::epoll_create1(0);
    conns_.resize(static_cast<std::size_t>(o_.connections));
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      conns_[i].fd = connect_to(o_);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = i;
      ::epoll_ctl(ep, EPOLL_CTL_ADD, conns_[i].fd, &ev);
    }
    start_ = Clock::now();
    measure_from_ = start_ + to_duration(o_.warmup);
    stop_at_ = measure_from_ + to_duration(o_.seconds);
    for (auto& c : conns_) send_batch(c);
    std::vector<epoll_event> events(conns_.size());
    std::size_t open = conns_.size();
    while (open > 0) {
      const int n = ::epoll_wait(ep, events.data(), static_cast<int>(events.size()), 1000);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw std::runtime_error("epoll_wait");
      for (int i = 0; i < n; ++i) {
        Conn& c = conns_[events[static_cast<std::size_t>(i)].data.u64];
        if (!read_some(c.fd, c.in)) throw std::runtime_error("server closed a connection");
        if (consume(c) && !send_batch(c)) {
          ::epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
          --open;
        }
      }
    }
    const double secs = totals_.counted == 0
                            ? 0.0
                            : std::chrono::duration<double>(last_counted_ - measure_from_).count();
    for (auto& c : conns_) ::close(c.fd);
    ::close(ep);
    report(secs);
    return totals_.counted > 0 ? 0 : 1;
  }

 private:
  static Clock::duration to_duration(double s) {
    return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
  }

  bool done() const {
    return Clock::now() >= stop_at_ || (o_.requests > 0 && totals_.counted >= o_.requests);
  }

  // Sends the next batch; false when the run is over.
  bool send_batch(Conn& c) {
    if (done()) return false;
    out_.clear();
    for (int i = 0; i < o_.pipeline; ++i) out_ += keys_[zipf_.next()];
    c.sent_at = Clock::now();
    c.outstanding = o_.pipeline;
    write_all(c.fd, out_);
    return true;
  }

  // Takes the complete replies from c.in; true when the batch is fully answered.
  bool consume(Conn& c) {
    std::size_t at = 0;
    const auto now = Clock::now();
    while (c.outstanding > 0) {
      Kind kind;
      const std::size_t len = reply_length(std::string_view(c.in).substr(at), kind);
      if (len == 0) break;
      at += len;
      --c.outstanding;
      ++totals_.all;
      if (c.sent_at < measure_from_) continue;
      ++totals_.counted;
      totals_.nil += kind == Kind::kNil;
      totals_.errors += kind == Kind::kError;
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now - c.sent_at);
      totals_.latencies_ns.push_back(
          static_cast<std::uint32_t>(std::min<std::int64_t>(ns.count(), UINT32_MAX)));
      last_counted_ = now;
    }
    c.in.erase(0, at);
    return c.outstanding == 0;
  }

  void report(double secs) {
    auto& l = totals_.latencies_ns;
    auto pct = [&](double p) {
      if (l.empty()) return 0.0;
      const auto k = static_cast<std::size_t>(p * static_cast<double>(l.size() - 1));
      std::nth_element(l.begin(), l.begin() + static_cast<std::ptrdiff_t>(k), l.end());
      return static_cast<double>(l[k]) / 1000.0;
    };
    const double p50 = pct(0.50), p99 = pct(0.99), p999 = pct(0.999);
    std::printf(
        "{\"requests\": %llu, \"total\": %llu, \"seconds\": %.4f, \"rps\": %.1f, \"p50_us\": %.1f, "
        "\"p99_us\": %.1f, \"p999_us\": %.1f, \"nil\": %llu, \"errors\": %llu}\n",
        static_cast<unsigned long long>(totals_.counted),
        static_cast<unsigned long long>(totals_.all), secs,
        secs > 0 ? static_cast<double>(totals_.counted) / secs : 0.0, p50, p99, p999,
        static_cast<unsigned long long>(totals_.nil),
        static_cast<unsigned long long>(totals_.errors));
  }

  const Options& o_;
  Zipf zipf_;
  std::vector<std::string> keys_;  // the GET command of each rank
  std::vector<Conn> conns_;
  std::string out_;
  Totals totals_;
  Clock::time_point start_, measure_from_, stop_at_, last_counted_;
};

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse_options(argc, argv);
    if (o.preload >= 0) return preload(o);
    return Load(o).run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nearcache_load: %s\n", e.what());
    return 1;
  }
}
