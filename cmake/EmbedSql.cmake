# Build-time script: writes a C++ source holding each migration file as a raw
# string, so the server binary carries its schema.
# Inputs: OUT (the .cc to write), FILES (comma-separated .sql paths, in order).
string(REPLACE "," ";" FILES "${FILES}")
set(body "// Generated from db/migrations/*.sql by cmake/EmbedSql.cmake. Do not edit.\n")
string(APPEND body "#include \"db/migrations.h\"\n\nnamespace hwnas::db {\n\n")
string(APPEND body "const std::vector<Migration>& Migrations() {\n")
string(APPEND body "  static const std::vector<Migration>* const kMigrations = new std::vector<Migration>{\n")
foreach(file ${FILES})
  get_filename_component(name ${file} NAME_WE)
  string(REGEX MATCH "^[0-9]+" version ${name})
  math(EXPR version "${version}")
  file(READ ${file} sql)
  string(APPEND body "      {${version}, \"${name}\", R\"hwnas_sql(${sql})hwnas_sql\"},\n")
endforeach()
string(APPEND body "  };\n  return *kMigrations;\n}\n\n}  // namespace hwnas::db\n")
file(WRITE ${OUT}.tmp "${body}")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
