# cmake "-DFILES=a.sql;b.sql" -DOUT=file.cc -P EmbedMigrations.cmake
# Writes iss::pg::kEmbeddedMigrationFiles: {file name, contents} per migration.
set(body "")
set(count 0)
foreach(f ${FILES})
  get_filename_component(name "${f}" NAME)
  file(READ "${f}" hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" escaped "${hex}")
  string(REGEX REPLACE "((\\\\x[0-9a-f][0-9a-f]){400})" "\\1\"\n\"" escaped "${escaped}")
  string(APPEND body "  {\"${name}\", std::string_view(\"${escaped}\", sizeof(\"${escaped}\") - 1)},\n")
  math(EXPR count "${count} + 1")
endforeach()
if(count EQUAL 0)
  set(body "  {\"\", std::string_view()},\n")
endif()
file(WRITE "${OUT}" "// Generated from migrations/*.sql. Do not edit.
#include <cstddef>
#include <string_view>
namespace iss::pg {
struct EmbeddedFile { const char* name; std::string_view data; };
extern const EmbeddedFile kEmbeddedMigrationFiles[];
extern const size_t kEmbeddedMigrationCount;
const EmbeddedFile kEmbeddedMigrationFiles[] = {
${body}};
const size_t kEmbeddedMigrationCount = ${count};
}  // namespace iss::pg
")
