// Owns: describing the REST surface from the same RouteTable that serves it:
// GET /api/v1/routes (a plain listing) and GET /openapi.json (OpenAPI 3.0:
// paths, path and query parameters, request bodies, bearer security on admin
// RPCs, google.rpc.Status errors).
#pragma once

#include <string>

#include "gateway/route_table.h"

namespace iss::gateway {

std::string RoutesJson(const RouteTable& table);
std::string OpenApiJson(const RouteTable& table);

}  // namespace iss::gateway
