// main() for test binaries that need PostgreSQL.
#include "gtest/gtest.h"
#include "tests/testing/postgres_env.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  hwnas::testing::RegisterPostgresEnvironment();
  return RUN_ALL_TESTS();
}
