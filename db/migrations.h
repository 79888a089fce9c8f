// The schema migrations compiled into the binary (db/migrations/*.sql).
#ifndef HWNAS_DB_MIGRATIONS_H_
#define HWNAS_DB_MIGRATIONS_H_

#include <string>
#include <vector>

namespace hwnas::db {

struct Migration {
  int version;       // From the file name's number: 0001_x.sql -> 1.
  std::string name;  // File name without extension.
  std::string sql;
};

// In ascending version order.
const std::vector<Migration>& Migrations();

}  // namespace hwnas::db

#endif  // HWNAS_DB_MIGRATIONS_H_
