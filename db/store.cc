#include "db/store.h"

#include "db/migrations.h"

namespace hwnas::db {

int Store::LatestSchemaVersion() { return Migrations().empty() ? 0 : Migrations().back().version; }

}  // namespace hwnas::db
