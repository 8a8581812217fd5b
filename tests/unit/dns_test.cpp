// The embedded DNS server's wire format against hand-made RFC 1035 messages.

#include <gtest/gtest.h>

#include "network/dns.hpp"

namespace berth::network::dns {
namespace {

// A query for `labels` with type `qtype`, id 0x1234, RD set.
std::string query(const std::vector<std::string>& labels, uint16_t qtype) {
  std::string m = {'\x12', '\x34', '\x01', '\x00', 0, 1, 0, 0, 0, 0, 0, 0};
  for (const auto& l : labels) {
    m.push_back(static_cast<char>(l.size()));
    m += l;
  }
  m.push_back(0);
  m.push_back(static_cast<char>(qtype >> 8));
  m.push_back(static_cast<char>(qtype & 0xff));
  m.push_back(0);
  m.push_back(1);
  return m;
}

TEST(Dns, ParsesTheQuestionInLowerCase) {
  auto q = parse_query(query({"Web", "Example"}, kTypeA));
  ASSERT_TRUE(q);
  EXPECT_EQ(q->id, 0x1234);
  EXPECT_EQ(q->name, "web.example");
  EXPECT_EQ(q->qtype, kTypeA);
  EXPECT_EQ(q->qclass, kClassIN);
  EXPECT_EQ(q->end, query({"Web", "Example"}, kTypeA).size());
}

TEST(Dns, RefusesResponsesTruncatedAndCompressedQuestions) {
  std::string m = query({"web"}, kTypeA);
  std::string response = m;
  response[2] = static_cast<char>(0x81);
  EXPECT_FALSE(parse_query(response));
  EXPECT_FALSE(parse_query(m.substr(0, m.size() - 3)));
  std::string pointer = m;
  pointer[12] = static_cast<char>(0xc0);
  EXPECT_FALSE(parse_query(pointer));
  EXPECT_FALSE(parse_query("short"));
}

TEST(Dns, AnswersWithARecordsInTheGivenOrder) {
  std::string m = query({"search"}, kTypeA);
  auto q = parse_query(m);
  ASSERT_TRUE(q);
  std::string r = answer(m, *q, {0x0a000002, 0x0a000003});
  ASSERT_EQ(r.size(), m.size() + 2 * 16);
  EXPECT_EQ(r.substr(0, 2), m.substr(0, 2));               // id
  EXPECT_EQ(static_cast<uint8_t>(r[2]) & 0x80, 0x80);      // QR
  EXPECT_EQ(static_cast<uint8_t>(r[2]) & 0x04, 0x04);      // AA
  EXPECT_EQ(static_cast<uint8_t>(r[2]) & 0x01, 0x01);      // RD kept
  EXPECT_EQ(static_cast<uint8_t>(r[3]) & 0x0f, 0);         // NOERROR
  EXPECT_EQ(r[7], 2);                                      // ANCOUNT
  EXPECT_EQ(r.substr(12, q->end - 12), m.substr(12));      // the question, copied
  std::string a1 = r.substr(m.size(), 16);
  EXPECT_EQ(a1.substr(0, 2), std::string("\xc0\x0c", 2));  // name: pointer to the question
  EXPECT_EQ(a1.substr(2, 4), std::string("\x00\x01\x00\x01", 4));
  EXPECT_EQ(a1.substr(10, 6), std::string("\x00\x04\x0a\x00\x00\x02", 6));
  EXPECT_EQ(r.substr(m.size() + 16 + 10, 6), std::string("\x00\x04\x0a\x00\x00\x03", 6));
}

TEST(Dns, KnownNamesHaveNoAaaaAndServfailSaysSo) {
  std::string m = query({"web"}, kTypeAAAA);
  auto q = parse_query(m);
  ASSERT_TRUE(q);
  std::string r = answer(m, *q, {0x0a000002});
  EXPECT_EQ(r.size(), m.size());
  EXPECT_EQ(r[7], 0);
  EXPECT_EQ(static_cast<uint8_t>(servfail(m, *q)[3]) & 0x0f, 2);
  EXPECT_EQ(static_cast<uint8_t>(answer(m, *q, {}, true)[3]) & 0x0f, 3);
}

}  // namespace
}  // namespace berth::network::dns
