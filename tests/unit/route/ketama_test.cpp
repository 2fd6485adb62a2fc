// Ketama ring: golden placements from a running nutcracker 0.5.0, point counts, weights, and how
// keys move when nodes change.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "route/ketama_ring.hpp"

using namespace sidecache::route;

namespace {

std::vector<RingNode> make_nodes(const std::vector<std::string>& names,
                                 const std::vector<std::uint32_t>& weights = {}) {
  std::vector<RingNode> nodes;
  for (std::size_t i = 0; i < names.size(); ++i) {
    nodes.push_back(
        RingNode{names[i], weights.empty() ? 1 : weights[i], static_cast<std::uint32_t>(i)});
  }
  return nodes;
}

// Placement strings: character i is the index of the node nutcracker put key i on. Produced with
// scripts/twemproxy_golden.py's placement() (nutcracker 0.5.0+dfsg-2 with distribution: ketama,
// servers "127.0.0.1:PORT:WEIGHT nodeN" over real redis-servers: SET through nutcracker, then
// KEYS on each backend), not by our implementation.
//
// Per hash kind: nodes node0..node3 with weights 1,1,2,1; keys "k0" .. "k199".
const std::vector<std::pair<std::string_view, std::string_view>> kPerKindPlacement{
    {"fnv1a_64",
     "222222222233333333333333333333333333333333333333333333333333333333333333333333333333333333333"
     "333333322222222222222222222222222222222222222223333333333333333333333333333333333333333333333"
     "33333333333333"},
    {"fnv1_64",
     "000000000011111111111111111111111111111111111111111111111111111111111111111111111111111111111"
     "111111122222222222222222222222222222222222222222222222222222222222222222222222222222222222222"
     "22222222222222"},
    {"fnv1a_32",
     "203213213310113322031223000210000333223230112222223301002222230013322202200322202222110100220"
     "300322102021330232232022033020000321003123300332312123200321200022233020233210222330003233202"
     "22233122332233"},
    {"fnv1_32",
     "111111111133333333331111111111111111111133333333330000000000333333333322222222220000000000222"
     "222222211111111112222222222222222222222222222220000000000000000000022222222221111111111000000"
     "00002222222222"},
    {"md5",
     "333311223122022230331101321123320020220133202200213222313132122220111001322231222211023231123"
     "220222222221322202011112032132211312323230010033100201013001011023222113132021232022222122130"
     "20111113200223"},
    {"murmur",
     "320322302223021121023301002123132322231222022000112000203222111010332223301213203200033302133"
     "112130123202133122223200221201122222222033231020230112001322022033312232222211321121012332220"
     "02022233302220"},
    {"crc16",
     "000000000033333333333333333333333333333333333333333333333333333333333333333333332222222222333"
     "333333333333333333333333333333333333333333333333333333333333333333333333333333333333333222222"
     "22222222222222"},
    {"crc32",
     "111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111"
     "111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111111"
     "11111111111111"},
    {"crc32a",
     "223023000200222030122011212202103221333212102220222120320323233222223023113222222222303323222"
     "302303313233333310022302202132121210021103221312212203222103313223232033223223223221021122311"
     "31212122122322"},
    {"one_at_a_time",
     "212222202302133221312123122033220020232103010230222301031020221210221222111222100222131220221"
     "331231122020233102212312303121223321302223131012103212022233221102223322221231220331021223231"
     "02320220222330"},
    {"jenkins",
     "222310230012212210210233033310012113220223022201112120221210221230220233201022232000131012310"
     "131122232221113132023232133122122220012220022313122102332310333020223121111212122121022322030"
     "12122020110222"},
    {"hsieh",
     "110231223322312202310222222122020323021302223112121131131220032222021003212213212132120212310"
     "200021220322222022320300233221202020330112130220210212202102230332222201112020220031200120333"
     "13112200213012"},
};
// Keys "key:0" .. "key:39". fnv1a_64, node0..node2 at weight 1.
constexpr std::string_view kFnvEqual = "1111111111222222222222222222222222222222";
// Same keys, md5, node0..node3 with weights 1,2,3,4.
constexpr std::string_view kMd5Weighted = "3333233111332321222211223331333323331131";
// murmur, hash_tag "{}", node0..node3 at weight 1; keys "{user<i%7>}:x" (i < 20), then
// "plain0".."plain19".
constexpr std::string_view kMurmurTagged = "0330131033013103301330032113033220301310";

std::string placement_string(const Router& router, const std::vector<std::string>& keys) {
  std::string out;
  for (const auto& key : keys) out.push_back(static_cast<char>('0' + router.node_for_key(key)));
  return out;
}

std::vector<std::string> numbered(std::string_view prefix, int count,
                                  std::string_view suffix = "") {
  std::vector<std::string> keys;
  for (int i = 0; i < count; ++i) {
    keys.push_back(std::string(prefix) + std::to_string(i) + std::string(suffix));
  }
  return keys;
}

const HashTag kNoTag{.enabled = false};

}  // namespace

TEST_CASE("ketama placement matches nutcracker for every hash kind", "[ketama][golden]") {
  const auto nodes = make_nodes({"node0", "node1", "node2", "node3"}, {1, 1, 2, 1});
  const auto keys = numbered("k", 200);
  for (const auto& [name, want] : kPerKindPlacement) {
    INFO(name);
    const Router router(*parse_hash_kind(name), kNoTag, nodes);
    CHECK(placement_string(router, keys) == want);
  }
}

TEST_CASE("ketama placement matches nutcracker for a few pools", "[ketama][golden]") {
  const auto keys = numbered("key:", 40);
  SECTION("fnv1a_64, equal weights") {
    const Router router(HashKind::kFnv1a64, kNoTag, make_nodes({"node0", "node1", "node2"}));
    CHECK(placement_string(router, keys) == kFnvEqual);
  }
  SECTION("md5, weights 1,2,3,4") {
    const Router router(HashKind::kMd5, kNoTag,
                        make_nodes({"node0", "node1", "node2", "node3"}, {1, 2, 3, 4}));
    CHECK(placement_string(router, keys) == kMd5Weighted);
  }
  SECTION("murmur with hash tag {}") {
    std::vector<std::string> tagged;
    for (int i = 0; i < 20; ++i) tagged.push_back("{user" + std::to_string(i % 7) + "}:x");
    for (const auto& k : numbered("plain", 20)) tagged.push_back(k);
    const Router router(HashKind::kMurmur, HashTag{},
                        make_nodes({"node0", "node1", "node2", "node3"}));
    CHECK(placement_string(router, tagged) == kMurmurTagged);
  }
}

TEST_CASE("points per node follow twemproxy's weight share", "[ketama]") {
  CHECK(ketama_point_count(1, 3, 3) == 160);
  CHECK(ketama_point_count(1, 5, 5) == 160);
  CHECK(ketama_point_count(1, 10, 4) == 64);
  CHECK(ketama_point_count(4, 10, 4) == 256);
  // Uneven shares round down to a multiple of 4 in single precision: 2/3 of 320 -> 212.
  CHECK(ketama_point_count(2, 3, 2) == 212);
  CHECK(ketama_point_count(1, 3, 2) == 104);

  const KetamaRing equal(make_nodes({"a", "b", "c", "d", "e"}));
  CHECK(equal.points() == 5 * 160);
  const KetamaRing weighted(make_nodes({"a", "b"}, {1, 2}));
  CHECK(weighted.points() == 104 + 212);

  const auto continuum = weighted.continuum();
  for (std::size_t i = 1; i < continuum.size(); ++i) {
    REQUIRE(continuum[i - 1].value <= continuum[i].value);
  }
}

TEST_CASE("lookup: first point at or above the hash, wrapping", "[ketama]") {
  const KetamaRing ring(make_nodes({"a", "b", "c"}));
  const auto points = ring.continuum();
  REQUIRE(points.size() == 480);
  CHECK(ring.node_for_hash(0) == points.front().id);
  CHECK(ring.node_for_hash(points.front().value) == points.front().id);
  CHECK(ring.node_for_hash(points[100].value) == points[100].id);
  CHECK(ring.node_for_hash(points[100].value + 1) == points[101].id);
  CHECK(ring.node_for_hash(points.back().value) == points.back().id);
  if (points.back().value != UINT32_MAX) {
    CHECK(ring.node_for_hash(points.back().value + 1) == points.front().id);
  }
  CHECK(ring.node_for_hash(UINT32_MAX) ==
        (points.back().value == UINT32_MAX ? points.back().id : points.front().id));

  // twemproxy hashes an empty key (after the tag) as 0: the first point's node.
  const Router router(HashKind::kFnv1a64, HashTag{}, make_nodes({"a", "b", "c"}));
  CHECK(router.node_for_key("") == points.front().id);
}

TEST_CASE("bad rings are rejected", "[ketama]") {
  CHECK_THROWS_AS(KetamaRing(std::vector<RingNode>{}), std::invalid_argument);
  CHECK_THROWS_AS(KetamaRing(make_nodes({"a", "b"}, {1, 0})), std::invalid_argument);
}

TEST_CASE("weights shift the key share", "[ketama]") {
  const Router router(HashKind::kMd5, kNoTag, make_nodes({"a", "b", "c"}, {1, 1, 2}));
  std::vector<int> counts(3);
  const auto keys = numbered("weighted:", 20000);
  for (const auto& key : keys) ++counts[router.node_for_key(key)];
  CHECK(counts[2] > 0.42 * 20000);
  CHECK(counts[2] < 0.58 * 20000);
  CHECK(counts[0] > 0.17 * 20000);
  CHECK(counts[1] > 0.17 * 20000);
}

TEST_CASE("a node keeps its keys when its address changes: names are hashed", "[ketama]") {
  // The ring sees only names and weights. Moving "cache-b" from 10.0.0.2:6379 to 10.0.0.9:7000
  // under the same configured name leaves every key where it was.
  const auto before = make_nodes({"cache-a", "cache-b", "cache-c"});
  const auto after = make_nodes({"cache-a", "cache-b", "cache-c"});
  const Router r1(HashKind::kFnv1a64, kNoTag, before);
  const Router r2(HashKind::kFnv1a64, kNoTag, after);
  const auto keys = numbered("user:", 5000);
  for (const auto& key : keys) REQUIRE(r1.node_for_key(key) == r2.node_for_key(key));

  // Without a configured name the default name is the address, so the same move reshuffles keys.
  const Router unnamed1(
      HashKind::kFnv1a64, kNoTag,
      make_nodes({default_node_name("10.0.0.1", 6379), default_node_name("10.0.0.2", 6379),
                  default_node_name("10.0.0.3", 6379)}));
  const Router unnamed2(
      HashKind::kFnv1a64, kNoTag,
      make_nodes({default_node_name("10.0.0.1", 6379), default_node_name("10.0.0.9", 7000),
                  default_node_name("10.0.0.3", 6379)}));
  int moved = 0;
  for (const auto& key : keys) moved += unnamed1.node_for_key(key) != unnamed2.node_for_key(key);
  CHECK(moved > 0);
}

TEST_CASE("hash tags send related keys to one node", "[ketama][hashtag]") {
  const Router router(HashKind::kMurmur, HashTag{}, make_nodes({"a", "b", "c", "d"}));
  const auto node = router.node_for_key("{user42}");
  for (const auto& key : {"{user42}:name", "{user42}:mail", "x{user42}y", "{user42}{other}"}) {
    CHECK(router.node_for_key(key) == node);
  }
  CHECK(router.node_for_key("user42") == node);  // the tag's content is what is hashed
}

TEST_CASE("adding a fifth node moves about a fifth of the keys, all to it", "[ketama]") {
  const auto keys = numbered("grow:", 20000);
  for (const auto kind : {HashKind::kFnv1a64, HashKind::kMd5, HashKind::kMurmur}) {
    INFO(hash_kind_name(kind));
    const Router four(kind, kNoTag, make_nodes({"n0", "n1", "n2", "n3"}));
    const Router five(kind, kNoTag, make_nodes({"n0", "n1", "n2", "n3", "n4"}));
    int moved = 0;
    for (const auto& key : keys) {
      const auto now = five.node_for_key(key);
      if (four.node_for_key(key) != now) {
        ++moved;
        REQUIRE(now == 4);
      }
    }
    const double share = static_cast<double>(moved) / static_cast<double>(keys.size());
    CHECK(share >= 0.10);
    CHECK(share <= 0.25);
  }
}

TEST_CASE("removing a node moves only that node's keys", "[ketama]") {
  const auto keys = numbered("shrink:", 20000);
  const Router full(HashKind::kFnv1a64, kNoTag, make_nodes({"n0", "n1", "n2", "n3", "n4"}));
  // n2 removed; ids keep naming the same nodes (n3, n4 keep ids 3, 4).
  std::vector<RingNode> rest = make_nodes({"n0", "n1", "n2", "n3", "n4"});
  rest.erase(rest.begin() + 2);
  const Router shrunk(HashKind::kFnv1a64, kNoTag, rest);
  int moved = 0;
  for (const auto& key : keys) {
    const auto before = full.node_for_key(key);
    const auto after = shrunk.node_for_key(key);
    if (before != 2) {
      REQUIRE(after == before);
    } else {
      REQUIRE(after != 2);
      ++moved;
    }
  }
  CHECK(moved > 0);
}

TEST_CASE("ring_nodes: names and weights in list order, ids are the indexes", "[ketama]") {
  struct Node {
    std::string name;
    std::uint32_t weight;
  };
  const std::vector<Node> list{{"a", 1}, {"b", 3}, {"c", 2}};
  const auto ring = ring_nodes(list);
  REQUIRE(ring.size() == 3);
  for (std::uint32_t i = 0; i < ring.size(); ++i) {
    CHECK(ring[i].name == list[i].name);
    CHECK(ring[i].weight == list[i].weight);
    CHECK(ring[i].id == i);
  }
}
