// LocalPostgres moved to common/local_postgres.h: it only drives PostgreSQL's
// programs, and the CLI starts a cluster without linking db/ (libpqxx). This
// name stays for the tests and code written against it; new code includes
// common/local_postgres.h.
#ifndef HWNAS_DB_LOCAL_POSTGRES_H_
#define HWNAS_DB_LOCAL_POSTGRES_H_

#include "common/local_postgres.h"

namespace hwnas::db {

using LocalPostgres = ::hwnas::LocalPostgres;

}  // namespace hwnas::db

#endif  // HWNAS_DB_LOCAL_POSTGRES_H_
