# cmake -DFILES="a|b" -DBASE=dir -DOUT=file.cc -P EmbedWeb.cmake
# Compiles the dashboard's static files into a table the gateway serves from,
# so the binary is self-contained (hex-escaped literals: safe for any bytes).
string(REPLACE "|" ";" FILES "${FILES}")
set(body "")
set(table "")
set(i 0)
foreach(f ${FILES})
  file(RELATIVE_PATH rel "${BASE}" "${f}")
  file(READ "${f}" hex HEX)
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" escaped "${hex}")
  string(REGEX REPLACE "((\\\\x[0-9a-f][0-9a-f]){400})" "\\1\"\n\"" escaped "${escaped}")
  string(APPEND body "static const char kFile${i}[] =\n\"${escaped}\";\n")
  string(APPEND table "  {\"/${rel}\", absl::string_view(kFile${i}, sizeof(kFile${i}) - 1)},\n")
  math(EXPR i "${i} + 1")
endforeach()
file(WRITE "${OUT}" "// Generated from gateway/web. Do not edit.\n#include \"gateway/web_assets.h\"\nnamespace iss::gateway {\nnamespace {\n${body}}  // namespace\nconst EmbeddedFile kEmbeddedWebFiles[] = {\n${table}};\nconst size_t kEmbeddedWebFileCount = ${i};\n}  // namespace iss::gateway\n")
