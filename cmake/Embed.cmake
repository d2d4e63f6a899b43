# cmake -DIN=file -DOUT=file.cc -DSYMBOL=name -P Embed.cmake
# Writes `extern const char* const iss::SYMBOL` holding the file's bytes as a
# hex-escaped literal (safe for any content).
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "\\\\x\\1" escaped "${hex}")
# Split the literal every 4000 escaped bytes to keep lines manageable.
string(REGEX REPLACE "((\\\\x[0-9a-f][0-9a-f]){400})" "\\1\"\n\"" escaped "${escaped}")
file(WRITE "${OUT}" "// Generated from ${IN}. Do not edit.\n#include <string_view>\nnamespace iss {\nextern const std::string_view ${SYMBOL};\nconst std::string_view ${SYMBOL} = std::string_view(\n\"${escaped}\", sizeof(\"${escaped}\") - 1);\n}  // namespace iss\n")
