// The error texts built from parts (resp/errors.hpp), byte for byte as clients have always got
// them (integration tests compare several with real Redis); the ASCII case helpers
// (sidecache/util/text.hpp); and resp_form(), the request bytes to forward.
#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "resp/errors.hpp"
#include "resp/parser.hpp"
#include "resp/writer.hpp"
#include "sidecache/util/text.hpp"

namespace sidecache::resp {
namespace {

TEST_CASE("error texts built from parts keep their exact wording", "[resp][errors]") {
  CHECK(errors::protocol_error("invalid bulk length") == "ERR Protocol error: invalid bulk length");
  CHECK(errors::no_input_key("zunion") ==
        "ERR at least 1 input key is needed for 'zunion' command");
  CHECK(errors::hello_option("FOO") == "ERR Syntax error in HELLO option 'FOO'");
  CHECK(errors::hello_option("a\r\nb") == "ERR Syntax error in HELLO option 'a  b'");
  CHECK(errors::unrecognized_option("x\ny") == "ERR Unrecognized option 'x y'");
  CHECK(errors::not_queueable("subscribe") ==
        "ERR sidecache: 'subscribe' cannot be queued in a transaction through sidecache");
  CHECK(errors::scan_too_many_nodes(512) == "ERR sidecache: SCAN supports at most 512 nodes");
  CHECK(errors::node_down("a") == "ERR node a is down");
  CHECK(errors::node_auth_failed("a") == "ERR node a: authentication failed");
  CHECK(errors::backend_failed("a", "timed out after 500 ms") ==
        "ERR backend 'a' timed out after 500 ms");
  CHECK(errors::dedicated_link_lost("a", "eof") ==
        "ERR sidecache: dedicated connection to node 'a' lost (eof), outcome unknown");
  CHECK(errors::too_many_dedicated("a", 64) ==
        "ERR sidecache: too many dedicated connections to node a "
        "(pool.max_dedicated_connections=64)");
  CHECK(errors::frame(errors::kMaxClients) == "-ERR max number of clients reached\r\n");
  CHECK(errors::kExecAbort == "EXECABORT Transaction discarded because of previous errors.");
  CHECK(errors::subscribed_context("set") ==
        "ERR Can't execute 'set': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET "
        "are allowed in this context");
  CHECK(errors::kDecrementOverflow == "ERR decrement would overflow");
  CHECK(errors::cannot_load("user:1", "connection refused") ==
        "ERR sidecache: cannot load user:1: connection refused");
  CHECK(errors::load_timed_out("user:1", 2000) ==
        "ERR sidecache: cannot load user:1: no result within 2000 ms");
  CHECK(errors::kNotReadThrough == "ERR sidecache: not a read-through command");
}

TEST_CASE("iequals and lower fold ASCII letters only", "[util][text]") {
  CHECK(iequals("GET", "get"));
  CHECK(iequals("Lib-Name", "LIB-NAME"));
  CHECK(iequals("", ""));
  CHECK_FALSE(iequals("get", "gets"));
  CHECK_FALSE(iequals("LIB\rNAME", "LIB-NAME"));  // '\r' | 0x20 == '-': not a letter
  CHECK_FALSE(iequals("@", "`"));
  CHECK_FALSE(iequals("\xc3\x89", "\xc3\xa9"));  // non-ASCII bytes compare as they are
  CHECK(lower("CONFIG GET Maxmemory") == "config get maxmemory");
  CHECK(lower("\xc3\x89-1_Z") == "\xc3\x89-1_z");
  static_assert(iequals("MULTI", "multi"));
}

TEST_CASE("resp_form forwards RESP requests as they came and encodes inline ones", "[resp]") {
  RequestParser parser;
  Command command;
  std::string scratch = "left over";
  std::size_t consumed = 0;

  const std::string multibulk = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
  REQUIRE(parser.parse(multibulk, command, consumed) == ParseStatus::kCommand);
  const std::string_view raw = std::string_view(multibulk).substr(command.start, consumed);
  const std::string_view forwarded = resp_form(command, raw, scratch);
  CHECK(forwarded.data() == raw.data());  // the client's bytes, not a copy
  CHECK(scratch == "left over");

  const std::string inline_request = "GET  k\r\n";
  REQUIRE(parser.parse(inline_request, command, consumed) == ParseStatus::kCommand);
  CHECK(resp_form(command, inline_request, scratch) == multibulk);
  CHECK(scratch == multibulk);
}

}  // namespace
}  // namespace sidecache::resp
