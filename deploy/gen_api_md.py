#!/usr/bin/env python3
"""Regenerates the RPC table of docs/api.md from proto/iss/**/*.proto
(service, rpc, request/response, HTTP rule and its success status when it is not
200, the comment above the rpc)."""
import pathlib, re, sys
root = pathlib.Path(__file__).resolve().parent.parent
NOTES_MAX = 400  # characters of the rpc comment in the Notes column


def notes(comment):
    """The comment, or, past NOTES_MAX, its whole sentences (else whole words) that fit, plus an ellipsis."""
    comment = comment.replace("|", "\\|")
    if len(comment) <= NOTES_MAX:
        return comment
    head = comment[:NOTES_MAX]
    cut = head.rfind(". ")
    cut = cut + 1 if cut > 0 else head.rfind(" ")
    return (head[:cut] if cut > 0 else head).rstrip() + " …"


rows = []
for proto in sorted((root / "proto").rglob("*.proto")):
    text = proto.read_text()
    pkg = re.search(r"^package ([\w.]+);", text, re.M)
    for svc in re.finditer(r"^service (\w+) \{(.*?)^\}", text, re.M | re.S):
        body = svc.group(2)
        for m in re.finditer(r"((?:[ \t]*//[^\n]*\n)*)[ \t]*rpc (\w+)\((stream )?([\w.]+)\) returns \((stream )?([\w.]+)\)\s*(\{.*?\n  \}|;)", body, re.S):
            comment = " ".join(l.strip()[2:].strip() for l in m.group(1).splitlines())
            http = re.search(r"(get|post|put|patch|delete): \"([^\"]+)\"", m.group(7))
            route = f"`{http.group(1).upper()} {http.group(2)}`" if http else "(gRPC only)"
            success = re.search(r"\(iss\.options\.v1\.http_success_status\) = (\d+);", m.group(7))
            if http and success:
                route += f" (success: {success.group(1)})"  # not 200 OK
            full = f"{pkg.group(1)}.{svc.group(1)}" if pkg else svc.group(1)
            req = ("stream " if m.group(3) else "") + m.group(4)
            resp = ("stream " if m.group(5) else "") + m.group(6)
            rows.append(f"| `{full}/{m.group(2)}` | {req} | {resp} | {route} | {notes(comment)} |")
table = "\n".join(["| RPC | Request | Response | REST route (gateway) | Notes |",
                   "|---|---|---|---|---|", *rows])
doc = root / "docs/api.md"
s = doc.read_text()
s = re.sub(r"<!-- rpc-table -->.*<!-- /rpc-table -->",
           "<!-- rpc-table -->\n" + table.replace("\\", "\\\\") + "\n<!-- /rpc-table -->", s, flags=re.S)
doc.write_text(s)
print(f"{len(rows)} RPCs")
