// The strict reader for ListObjectsV2 pages and S3 error documents.
#include <gtest/gtest.h>

#include <string>

#include "s3/list_xml.hpp"

namespace stagecheck::s3 {
namespace {

constexpr const char* kPage = R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Name>testbucket</Name><Prefix>runs/</Prefix><KeyCount>3</KeyCount><MaxKeys>3</MaxKeys>
  <IsTruncated>true</IsTruncated>
  <Contents><Key>runs/a &amp; b.json</Key><LastModified>2026-11-22T13:09:18.250Z</LastModified>
    <ETag>&quot;abc&quot;</ETag><Size>12</Size><StorageClass>STANDARD</StorageClass></Contents>
  <Contents><Key>runs/caf&#xE9;/&#233;t&#233; &lt;1&gt;.txt</Key><Size>0</Size></Contents>
  <CommonPrefixes><Prefix>runs/r1/</Prefix></CommonPrefixes>
  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>
</ListBucketResult>)";

TEST(S3ListXml, ParsesAPage) {
  Result<ListPage> page = parse_list_page(kPage);
  ASSERT_TRUE(page.ok()) << page.error().message;
  ASSERT_EQ(page->objects.size(), 2u);
  EXPECT_EQ(page->objects[0].key, "runs/a & b.json");
  EXPECT_EQ(page->objects[0].size, 12u);
  EXPECT_EQ(page->objects[0].mtime_ns, 1795352958250000000);
  EXPECT_EQ(page->objects[1].key, "runs/caf\xC3\xA9/\xC3\xA9t\xC3\xA9 <1>.txt");
  EXPECT_EQ(page->objects[1].size, 0u);
  EXPECT_EQ(page->objects[1].mtime_ns, 0);
  ASSERT_EQ(page->common_prefixes.size(), 1u);
  EXPECT_EQ(page->common_prefixes[0], "runs/r1/");
  EXPECT_TRUE(page->truncated);
  EXPECT_EQ(page->next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
}

TEST(S3ListXml, LastPageAndEmptyListing) {
  Result<ListPage> page = parse_list_page(
      "<ListBucketResult><IsTruncated>false</IsTruncated><Prefix/></ListBucketResult>");
  ASSERT_TRUE(page.ok()) << page.error().message;
  EXPECT_TRUE(page->objects.empty());
  EXPECT_FALSE(page->truncated);
}

TEST(S3ListXml, RefusesWhatIsNotAWellFormedListing) {
  const char* bad[] = {
      "",
      "not xml",
      "<Error><Code>AccessDenied</Code></Error>",
      "<ListBucketResult><IsTruncated>false</IsTruncated>",                   // never closed
      "<ListBucketResult><IsTruncated>false</Truncated></ListBucketResult>",  // mismatched
      "<ListBucketResult></ListBucketResult>",                                // no IsTruncated
      "<ListBucketResult><IsTruncated>yes</IsTruncated></ListBucketResult>",
      "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",  // no token
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Size>1</Size></Contents>"
      "</ListBucketResult>",  // no Key
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a</Key><Size>-1</Size>"
      "</Contents></ListBucketResult>",
      "<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>a &bogus; b</Key>"
      "<Size>1</Size></Contents></ListBucketResult>",
      "<!DOCTYPE x [<!ENTITY e \"boom\">]><ListBucketResult><IsTruncated>false</IsTruncated>"
      "</ListBucketResult>",
      "<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult><Second/>",
  };
  for (const char* xml : bad) {
    Result<ListPage> page = parse_list_page(xml);
    EXPECT_FALSE(page.ok()) << xml;
    if (!page.ok()) {
      EXPECT_EQ(page.error().code, Errc::malformed) << xml;
    }
  }
}

TEST(S3ListXml, Entities) {
  EXPECT_EQ(*decode_entities("a&amp;b&lt;&gt;&quot;&apos;&#65;&#x42;&#x1F600;"),
            "a&b<>\"'AB\xF0\x9F\x98\x80");
  EXPECT_FALSE(decode_entities("&#0;").ok());
  EXPECT_FALSE(decode_entities("&#xD800;").ok());
  EXPECT_FALSE(decode_entities("a & b").ok());
}

TEST(S3ListXml, ErrorDocuments) {
  ErrorDocument doc = parse_error_document(
      "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The specified key does not "
      "exist.</Message><Key>a</Key></Error>");
  EXPECT_EQ(doc.code, "NoSuchKey");
  EXPECT_EQ(doc.message, "The specified key does not exist.");
  EXPECT_EQ(parse_error_document("").code, "");
  EXPECT_EQ(parse_error_document("<html>oops").code, "");
}

TEST(S3ListXml, Iso8601) {
  EXPECT_EQ(parse_iso8601_ns("1970-01-01T00:00:01Z"), 1'000'000'000);
  EXPECT_EQ(parse_iso8601_ns("1970-01-01T00:00:01.5Z"), 1'500'000'000);
  EXPECT_EQ(parse_iso8601_ns("yesterday"), -1);
}

}  // namespace
}  // namespace stagecheck::s3
