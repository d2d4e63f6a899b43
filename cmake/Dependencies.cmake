# Every external dependency, found once. All come from Debian bookworm packages
# (scripts/install-deps.sh installs them); see docs/architecture.md for versions.
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)          # CMake's FindProtobuf: protobuf::libprotobuf
find_package(gRPC CONFIG REQUIRED)       # gRPC::grpc++, gRPC::grpc++_reflection
find_package(absl CONFIG REQUIRED)
find_package(prometheus-cpp CONFIG REQUIRED)
find_package(Boost 1.74 REQUIRED COMPONENTS system)
find_package(OpenSSL REQUIRED)
find_package(ZLIB REQUIRED)              # zlib: gzip recordings (ZLIB::ZLIB)
find_package(PkgConfig REQUIRED)
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
pkg_check_modules(ICU REQUIRED IMPORTED_TARGET icu-uc icu-i18n)  # grapheme clusters (Pee-Bot)
find_package(nlohmann_json 3 REQUIRED)
find_package(CLI11 2.1 CONFIG REQUIRED)  # header-only: issctl's subcommands
if(ISS_BUILD_TESTS)
  find_package(GTest CONFIG REQUIRED)
endif()
if(ISS_BUILD_BENCH)
  find_package(benchmark CONFIG REQUIRED)
endif()

find_program(GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)

# Well-known protos that Debian ships; we compile against them in place, never copy them.
set(ISS_GOOGLEAPIS_DIR
    "/usr/share/gocode/src/github.com/grpc-ecosystem/grpc-gateway/third_party/googleapis"
    CACHE PATH "Folder holding google/api/annotations.proto and google/rpc/status.proto")
set(ISS_GRPC_PROTO_DIR "/usr/share/grpc-proto" CACHE PATH
    "Folder holding grpc/health/v1/health.proto")
foreach(f "${ISS_GOOGLEAPIS_DIR}/google/api/annotations.proto"
          "${ISS_GRPC_PROTO_DIR}/grpc/health/v1/health.proto")
  if(NOT EXISTS "${f}")
    message(FATAL_ERROR "Missing ${f}: run scripts/install-deps.sh "
                        "(packages golang-github-grpc-ecosystem-grpc-gateway-dev, grpc-proto)")
  endif()
endforeach()
