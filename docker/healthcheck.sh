#!/bin/bash
# curl-free health probe: GET ${ISS_HEALTH_PATH:-/readyz} on 127.0.0.1:${ISS_HEALTH_PORT}
# over bash's /dev/tcp; healthy only on an HTTP 200 status line.
port="${ISS_HEALTH_PORT:-9101}"
path="${ISS_HEALTH_PATH:-/readyz}"
exec 3<>"/dev/tcp/127.0.0.1/${port}" || exit 1
printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$path" >&3
IFS= read -r -t 3 status <&3 || exit 1
[[ "$status" == HTTP/1.?" 200"* ]]
