// Reading the type and channel of the Pub/Sub frames a node sends (RESP2 and RESP3).
#include "server/pubsub_frames.hpp"

#include <catch2/catch.hpp>
#include <string>

using sidecache::server::pubsub_frame_bulk;
using sidecache::server::pubsub_frame_type;

TEST_CASE("pubsub frames: type and channel, RESP2 and RESP3") {
  const std::string resp2 = "*3\r\n$12\r\nsunsubscribe\r\n$4\r\nnews\r\n:0\r\n";
  CHECK(pubsub_frame_type(resp2) == "sunsubscribe");
  CHECK(pubsub_frame_bulk(resp2, 1) == "news");
  CHECK(pubsub_frame_bulk(resp2, 2).empty());  // an integer, not a bulk
  CHECK(pubsub_frame_bulk(resp2, 3).empty());  // beyond the count
  const std::string push = ">3\r\n$8\r\nsmessage\r\n$1\r\nc\r\n$5\r\nhello\r\n";
  CHECK(pubsub_frame_type(push) == "smessage");
  CHECK(pubsub_frame_bulk(push, 2) == "hello");
  const std::string empty_channel = "*3\r\n$10\r\nssubscribe\r\n$0\r\n\r\n:1\r\n";
  CHECK(pubsub_frame_bulk(empty_channel, 1).empty());
  CHECK(pubsub_frame_type(empty_channel) == "ssubscribe");
}

TEST_CASE("pubsub frames: anything else reads as empty, never beyond the frame") {
  CHECK(pubsub_frame_type("").empty());
  CHECK(pubsub_frame_type("+PONG\r\n").empty());
  CHECK(pubsub_frame_type("-MOVED 1 h:1\r\n").empty());
  CHECK(pubsub_frame_type("*1\r\n:1\r\n").empty());
  CHECK(pubsub_frame_type("*x\r\n$1\r\na\r\n").empty());
  CHECK(pubsub_frame_type("*2\r\n$9\r\nmessage\r\n").empty());       // bulk cut short
  CHECK(pubsub_frame_bulk("*2\r\n$1\r\na\r\n$5\r\nab", 1).empty());  // second bulk cut short
  CHECK(pubsub_frame_bulk("*2\r\n$1\r\na\r\n", 1).empty());          // missing element
  CHECK(pubsub_frame_type("*1\r\n$99999999999999999999\r\n").empty());
}
