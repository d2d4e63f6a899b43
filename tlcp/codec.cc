#include "tlcp/codec.h"

#include <array>
#include <charconv>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "common/percent.h"
#include "common/utf8.h"

namespace iss::tlcp {
namespace {

constexpr char kReasonPayload[] = "iss.tlcp/reason";

// Debian's Abseil has its own string_view type (not std::string_view).
absl::string_view Av(std::string_view s) { return absl::string_view(s.data(), s.size()); }

struct Shape {
  std::string_view tag;
  MessageType type;
  int min_args;
  int max_args;
  bool last_takes_rest;  // the last argument is free text (may hold commas)
};

// Argument counts as the TLCP 2.x specification gives them. Some servers omit
// trailing optional arguments (REQOK without id on HTTP, LOOP without delay),
// so those minima are relaxed.
constexpr std::array<Shape, 25> kShapes = {{
    {"U", MessageType::kUpdate, 3, 3, true},
    {"PROBE", MessageType::kProbe, 0, 0, false},
    {"SYNC", MessageType::kSync, 1, 1, false},
    {"CONOK", MessageType::kConok, 4, 4, false},
    {"SERVNAME", MessageType::kServname, 1, 1, true},
    {"CLIENTIP", MessageType::kClientip, 1, 1, false},
    {"CONS", MessageType::kCons, 1, 1, false},
    {"SUBOK", MessageType::kSubok, 3, 3, false},
    {"SUBCMD", MessageType::kSubcmd, 5, 5, false},
    {"UNSUB", MessageType::kUnsub, 1, 1, false},
    {"REQOK", MessageType::kReqok, 0, 1, false},
    {"REQERR", MessageType::kReqerr, 3, 3, true},
    {"CONF", MessageType::kConf, 3, 3, false},
    {"EOS", MessageType::kEos, 2, 2, false},
    {"CS", MessageType::kCs, 2, 2, false},
    {"OV", MessageType::kOv, 3, 3, false},
    {"LOOP", MessageType::kLoop, 0, 1, false},
    {"NOOP", MessageType::kNoop, 0, 1, true},
    {"PROG", MessageType::kProg, 1, 1, false},
    {"MSGDONE", MessageType::kMsgdone, 2, 3, true},
    {"MSGFAIL", MessageType::kMsgfail, 4, 4, true},
    {"END", MessageType::kEnd, 1, 2, true},
    {"CONERR", MessageType::kConerr, 2, 2, true},
    {"ERROR", MessageType::kError, 2, 2, true},
    {"WSOK", MessageType::kWsok, 0, 0, false},
}};

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes without UTF-8 checks; `plus_is_space` for form bodies.
absl::StatusOr<std::string> Unescape(std::string_view text, bool plus_is_space,
                                     std::string_view reason) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) {
        return Malformed(reason, "truncated percent escape");
      }
      const int hi = HexDigit(text[i + 1]);
      const int lo = HexDigit(text[i + 2]);
      if (hi < 0 || lo < 0) return Malformed(reason, "invalid percent escape");
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (plus_is_space && c == '+') {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::string_view MessageTypeName(MessageType type) {
  for (const Shape& s : kShapes) {
    if (s.type == type) return s.tag;
  }
  return "unknown";
}

absl::Status Malformed(std::string_view reason, std::string_view detail) {
  absl::Status status = absl::InvalidArgumentError(absl::StrCat(Av(reason), ": ", Av(detail)));
  status.SetPayload(kReasonPayload, absl::Cord(Av(reason)));
  return status;
}

std::string MalformedReason(const absl::Status& status) {
  if (auto payload = status.GetPayload(kReasonPayload)) return std::string(*payload);
  return "other";
}

absl::StatusOr<Message> ParseMessage(std::string_view line) {
  if (line.empty()) return Malformed("empty", "empty line");
  if (line.size() > kMaxLineBytes) return Malformed("too_long", "line too long");
  Message msg;
  const size_t comma = line.find(',');
  msg.tag = line.substr(0, comma);
  std::string_view rest =
      comma == std::string_view::npos ? std::string_view() : line.substr(comma + 1);
  const Shape* shape = nullptr;
  for (const Shape& s : kShapes) {
    if (s.tag == msg.tag) {
      shape = &s;
      break;
    }
  }
  if (shape == nullptr) {
    // Unknown messages are not malformed: a newer server may send more.
    msg.type = MessageType::kUnknown;
    return msg;
  }
  msg.type = shape->type;
  if (comma != std::string_view::npos) {
    while (true) {
      const bool last =
          shape->last_takes_rest && static_cast<int>(msg.args.size()) == shape->max_args - 1;
      const size_t next = last ? std::string_view::npos : rest.find(',');
      msg.args.push_back(rest.substr(0, next));
      if (next == std::string_view::npos) break;
      rest.remove_prefix(next + 1);
    }
  }
  const int n = static_cast<int>(msg.args.size());
  if (n < shape->min_args || n > shape->max_args) {
    return Malformed("bad_args", absl::StrCat(Av(shape->tag), " with ", n, " arguments"));
  }
  return msg;
}

absl::StatusOr<int64_t> ParseIntArg(std::string_view arg, int64_t min, int64_t max) {
  int64_t v = 0;
  const char* end = arg.data() + arg.size();
  auto [ptr, ec] = std::from_chars(arg.data(), end, v);
  if (arg.empty() || ec != std::errc() || ptr != end || v < min || v > max) {
    return Malformed("bad_number", absl::StrCat("expected an integer in [", min, ", ", max,
                                                "], got \"", Av(arg.substr(0, 32)), "\""));
  }
  return v;
}

void LineSplitter::Feed(std::string_view data, std::vector<std::string>* lines) {
  while (!data.empty()) {
    const size_t nl = data.find('\n');
    if (nl == std::string_view::npos) {
      if (partial_.size() + data.size() > kMaxLineBytes) {
        partial_.clear();
        ++overflowed_;
      } else {
        partial_.append(data);
      }
      return;
    }
    partial_.append(data.substr(0, nl));
    if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
    if (!partial_.empty()) lines->push_back(std::move(partial_));
    partial_.clear();
    data.remove_prefix(nl + 1);
  }
}

absl::StatusOr<std::string> PercentDecode(std::string_view text) {
  if (text.find('%') == std::string_view::npos) {
    if (!IsValidUtf8(text)) return Malformed("bad_utf8", "value is not UTF-8");
    return std::string(text);
  }
  absl::StatusOr<std::string> out = Unescape(text, /*plus_is_space=*/false, "bad_escape");
  if (!out.ok()) return out;
  if (!IsValidUtf8(*out)) return Malformed("bad_utf8", "decoded value is not UTF-8");
  return out;
}

absl::Status ApplyUpdate(std::string_view values, FieldValues& state, std::vector<bool>* changed) {
  const size_t n = state.size();
  FieldValues next = state;
  std::vector<bool> flags(n, false);
  size_t field = 0;
  while (true) {
    const size_t bar = values.find('|');
    const std::string_view token = values.substr(0, bar);
    if (field >= n) {
      return Malformed("field_count", absl::StrCat("more than ", n, " fields"));
    }
    if (token.empty()) {
      ++field;  // unchanged
    } else if (token == "#") {
      flags[field] = next[field].has_value();
      next[field].reset();
      ++field;
    } else if (token == "$") {
      flags[field] = next[field] != std::optional<std::string>("");
      next[field] = std::string();
      ++field;
    } else if (token.size() >= 2 && token[0] == '^' && (token[1] == 'P' || token[1] == 'T')) {
      return Malformed("diff_not_negotiated",
                       absl::StrCat("^", Av(token.substr(1, 1)), " diff, but none was asked for"));
    } else if (token[0] == '^') {
      absl::StatusOr<int64_t> skip = ParseIntArg(token.substr(1), 1, 1 << 20);
      if (!skip.ok()) return Malformed("bad_skip", "invalid ^N");
      if (field + static_cast<size_t>(*skip) > n) {
        return Malformed("bad_skip", absl::StrCat("^", *skip, " beyond ", n, " fields"));
      }
      field += static_cast<size_t>(*skip);
    } else {
      absl::StatusOr<std::string> v = PercentDecode(token);
      if (!v.ok()) return v.status();
      flags[field] = next[field] != *v;
      next[field] = std::move(*v);
      ++field;
    }
    if (bar == std::string_view::npos) break;
    values.remove_prefix(bar + 1);
  }
  if (field != n) {
    return Malformed("field_count", absl::StrCat(field, " of ", n, " fields"));
  }
  state = std::move(next);
  if (changed != nullptr) *changed = std::move(flags);
  return absl::OkStatus();
}

std::string EncodeValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    const bool marker = i == 0 && (c == '#' || c == '$' || c == '^');
    if (c < 0x20 || c == 0x7F || c == '%' || c == '|' || marker) {
      percent::AppendEscaped(out, c);
    } else {
      out.push_back(value[i]);
    }
  }
  return out;
}

std::string DecodeText(std::string_view arg) {
  if (arg.find('%') == std::string_view::npos) return std::string(arg);
  absl::StatusOr<std::string> decoded = PercentDecode(arg);
  return decoded.ok() ? *std::move(decoded) : std::string(arg);
}

absl::StatusOr<ControlLink> ParseControlLink(std::string_view link) {
  const auto bad = [&](std::string_view why) {
    return Malformed("bad_control_link",
                     absl::StrCat(Av(why), " in control link \"", Av(link.substr(0, 100)), "\""));
  };
  std::string_view rest = link;
  for (std::string_view scheme : {"https://", "http://"}) {
    if (rest.substr(0, scheme.size()) == scheme) rest.remove_prefix(scheme.size());
  }
  ControlLink out;
  const size_t slash = rest.find('/');
  if (slash != std::string_view::npos) {
    std::string_view path = rest.substr(slash);
    while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
    if (path != "/") out.path = std::string(path);
    rest = rest.substr(0, slash);
  }
  std::string_view host = rest;
  std::string_view port;
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 address");
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("junk after the IPv6 address");
      port = after.substr(1);
    }
  } else if (const size_t colon = rest.find(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty()) return bad("no host");
  for (const char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_' || (rest.front() == '[' && c == ':');
    if (!ok) return bad("bad host character");
  }
  if (!port.empty()) {
    absl::StatusOr<int64_t> p = ParseIntArg(port, 1, 65535);
    if (!p.ok()) return bad("bad port");
    out.port = static_cast<int>(*p);
  }
  out.host = std::string(host);
  for (const char c : out.path) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == '?' || c == '#' || c == '%' || c == '\\') {
      return bad("bad path character");
    }
  }
  return out;
}

std::string EncodeUpdate(const FieldValues* prev, const FieldValues& next) {
  std::string out;
  size_t i = 0;
  while (i < next.size()) {
    if (i > 0) out.push_back('|');
    // A run of unchanged fields: one empty slot, or "^N" for two or more.
    size_t run = 0;
    while (prev != nullptr && i + run < next.size() && i + run < prev->size() &&
           (*prev)[i + run] == next[i + run]) {
      ++run;
    }
    if (run == 1) {
      i += 1;
      continue;
    }
    if (run > 1) {
      absl::StrAppend(&out, "^", run);
      i += run;
      continue;
    }
    if (!next[i].has_value()) {
      out.push_back('#');
    } else if (next[i]->empty()) {
      out.push_back('$');
    } else {
      out += EncodeValue(*next[i]);
    }
    ++i;
  }
  return out;
}

std::string FormEncode(std::string_view text) { return percent::EncodeUnreserved(text); }

std::string FormatParams(const std::vector<std::pair<std::string, std::string>>& params) {
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out.push_back('&');
    absl::StrAppend(&out, FormEncode(k), "=", FormEncode(v));
  }
  return out;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseParams(
    std::string_view text) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!text.empty()) {
    const size_t amp = text.find('&');
    const std::string_view pair = text.substr(0, amp);
    if (!pair.empty()) {
      const size_t eq = pair.find('=');
      if (eq == std::string_view::npos) return Malformed("bad_params", "parameter without '='");
      absl::StatusOr<std::string> k = Unescape(pair.substr(0, eq), true, "bad_params");
      absl::StatusOr<std::string> v = Unescape(pair.substr(eq + 1), true, "bad_params");
      if (!k.ok()) return k.status();
      if (!v.ok()) return v.status();
      out.emplace_back(std::move(*k), std::move(*v));
    }
    if (amp == std::string_view::npos) break;
    text.remove_prefix(amp + 1);
  }
  return out;
}

}  // namespace iss::tlcp
