// delay_relay: a TCP relay that forwards every chunk a fixed time after it read it, both ways: a
// network's latency between a client and a server on one machine, for benchmarks
// (scripts/bench_nearcache.py). tests/tools/fault_proxy.py does the same and much more, but it
// is a threaded Python process: at a few ten thousand chunks a second its own queueing, not the
// delay, sets the latency.
//
//   delay_relay --listen PORT --target HOST:PORT --delay-ms MS
//
// One thread, epoll, a timerfd. Each accepted connection gets its own connection to the target.
// Since the delay is the same for every chunk, one FIFO of (due time, link, direction, bytes)
// is in due order. Writes are blocking (a full peer stalls the relay, as a saturated link would).
// A connection that closes or fails closes its peer at once. Prints "ready" once listening.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

namespace {

struct Link {
  int fds[2] = {-1, -1};  // 0: the client's, 1: the target's
  bool open = true;
};

struct Pending {
  std::uint64_t due_ns;
  std::shared_ptr<Link> link;
  int to;  // index of the fd to write to
  std::string bytes;
};

std::uint64_t now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ull +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "delay_relay: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

sockaddr_in address(const std::string& host, int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) fail("bad host " + host);
  return addr;
}

void no_delay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

class Relay {
 public:
  Relay(int listen_port, sockaddr_in target, std::uint64_t delay_ns)
      : target_(target), delay_ns_(delay_ns) {
    ep_ = ::epoll_create1(0);
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr = address("127.0.0.1", listen_port);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fail("bind");
    if (::listen(listener_, 512) != 0) fail("listen");
    timer_ = ::timerfd_create(CLOCK_MONOTONIC, 0);
    watch(listener_);
    watch(timer_);
  }

  [[noreturn]] void run() {
    std::printf("ready\n");
    std::fflush(stdout);
    epoll_event events[64];
    for (;;) {
      const int n = ::epoll_wait(ep_, events, 64, -1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fail("epoll_wait");
      for (int i = 0; i < n; ++i) {
        const int fd = events[i].data.fd;
        if (fd == listener_) {
          accept_one();
        } else if (fd == timer_) {
          std::uint64_t expirations;
          [[maybe_unused]] auto r = ::read(timer_, &expirations, sizeof expirations);
        } else {
          read_from(fd);
        }
      }
      forward_due();
    }
  }

 private:
  void watch(int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
  }

  void accept_one() {
    const int client = ::accept(listener_, nullptr, nullptr);
    if (client < 0) return;
    const int server = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(server, reinterpret_cast<const sockaddr*>(&target_), sizeof target_) != 0) {
      ::close(server);
      ::close(client);
      return;
    }
    no_delay(client);
    no_delay(server);
    auto link = std::make_shared<Link>();
    link->fds[0] = client;
    link->fds[1] = server;
    by_fd_[client] = link;
    by_fd_[server] = link;
    watch(client);
    watch(server);
  }

  void close_link(const std::shared_ptr<Link>& link) {
    if (!link->open) return;
    link->open = false;
    for (int fd : link->fds) {
      by_fd_.erase(fd);
      ::close(fd);  // also leaves the epoll set
    }
  }

  void read_from(int fd) {
    const auto it = by_fd_.find(fd);
    if (it == by_fd_.end()) return;
    const std::shared_ptr<Link> link = it->second;
    char buf[65536];
    // Non-blocking: an event of this batch may name an fd closed and reused meanwhile.
    const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
      close_link(link);
      return;
    }
    const int to = link->fds[0] == fd ? 1 : 0;
    const bool was_empty = queue_.empty();
    queue_.push_back(
        Pending{now_ns() + delay_ns_, link, to, std::string(buf, static_cast<std::size_t>(n))});
    if (was_empty) arm(queue_.front().due_ns);
  }

  void forward_due() {
    const std::uint64_t now = now_ns();
    while (!queue_.empty() && queue_.front().due_ns <= now) {
      Pending p = std::move(queue_.front());
      queue_.pop_front();
      if (p.link->open && !write_all(p.link->fds[p.to], p.bytes)) close_link(p.link);
    }
    if (!queue_.empty()) arm(queue_.front().due_ns);
  }

  static bool write_all(int fd, std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::write(fd, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  void arm(std::uint64_t due_ns) {
    itimerspec spec{};
    spec.it_value.tv_sec = static_cast<time_t>(due_ns / 1000000000ull);
    spec.it_value.tv_nsec = static_cast<long>(due_ns % 1000000000ull);
    ::timerfd_settime(timer_, TFD_TIMER_ABSTIME, &spec, nullptr);
  }

  sockaddr_in target_;
  std::uint64_t delay_ns_;
  int ep_ = -1, listener_ = -1, timer_ = -1;
  std::unordered_map<int, std::shared_ptr<Link>> by_fd_;
  std::deque<Pending> queue_;
};

}  // namespace

int main(int argc, char** argv) {
  int listen_port = 0, target_port = 0;
  std::string target_host;
  double delay_ms = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view name = argv[i];
    const std::string value = argv[i + 1];
    if (name == "--listen") {
      listen_port = std::atoi(value.c_str());
    } else if (name == "--target") {
      const auto colon = value.rfind(':');
      if (colon == std::string::npos) break;
      target_host = value.substr(0, colon);
      target_port = std::atoi(value.c_str() + colon + 1);
    } else if (name == "--delay-ms") {
      delay_ms = std::atof(value.c_str());
    }
  }
  if (listen_port <= 0 || target_port <= 0 || delay_ms < 0) {
    std::fprintf(stderr, "usage: delay_relay --listen PORT --target HOST:PORT --delay-ms MS\n");
    return 2;
  }
  Relay(listen_port, address(target_host, target_port), static_cast<std::uint64_t>(delay_ms * 1e6))
      .run();
}
