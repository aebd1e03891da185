#include <gtest/gtest.h>
#include <sys/stat.h>

#include "stagecheck/local_store.hpp"
#include "stagecheck_test_support.hpp"

using namespace stagecheck;
namespace st = stagecheck::testing;

TEST(ReadLocalFile, ReadsAWholeFile) {
  st::ScratchDir d;
  d.write("env", "A=1\n");
  auto r = read_local_file(d / "env", 100);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, "A=1\n");
}

TEST(ReadLocalFile, MissingFolderFifoAndOversized) {
  st::ScratchDir d;
  auto missing = read_local_file(d / "nope", 100);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::not_found);
  EXPECT_NE(missing.error().message.find((d / "nope").string()), std::string::npos);

  auto folder = read_local_file(d.path(), 100);
  ASSERT_FALSE(folder.ok());
  EXPECT_EQ(folder.error().code, Errc::not_a_file);

  ASSERT_EQ(::mkfifo((d / "fifo").c_str(), 0600), 0);
  auto fifo = read_local_file(d / "fifo", 100);  // must not block waiting for a writer
  ASSERT_FALSE(fifo.ok());
  EXPECT_EQ(fifo.error().code, Errc::not_a_file);

  d.write("big", std::string(101, 'x'));
  auto big = read_local_file(d / "big", 100);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, Errc::too_large);
  EXPECT_NE(big.error().message.find("101 bytes, over the read cap of 100 bytes"),
            std::string::npos);
}
