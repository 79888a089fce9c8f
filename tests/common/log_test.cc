#include "common/log.h"

#include "gtest/gtest.h"

namespace hwnas {
namespace {

TEST(RedactSecretsTest, HidesPasswordsInUrisAndKeyValueStrings) {
  EXPECT_EQ(RedactSecrets("postgresql://hwnas:s3cr3t@127.0.0.1:5432/db"),
            "postgresql://hwnas:***@127.0.0.1:5432/db");
  EXPECT_EQ(RedactSecrets("host=x password=s3cr3t dbname=y"), "host=x password=*** dbname=y");
  EXPECT_EQ(RedactSecrets("host=x PASSWORD='a b' dbname=y"), "host=x PASSWORD=*** dbname=y");
  EXPECT_EQ(RedactSecrets("postgresql://hwnas@127.0.0.1/db"), "postgresql://hwnas@127.0.0.1/db");
}

TEST(InitLoggingTest, RejectsUnknownLevelsAndIsIdempotent) {
  EXPECT_TRUE(InitLogging("info").ok());
  EXPECT_TRUE(InitLogging("debug").ok());
  EXPECT_FALSE(InitLogging("loud").ok());
}

}  // namespace
}  // namespace hwnas
