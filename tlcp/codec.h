// Owns: the TLCP 2.x text codec shared by the client and the simulator:
// splitting a stream into lines, parsing one server notification into its
// tag and arguments, the compact encoding of update values (decode and
// encode), and the percent/form encodings of request parameters.
//
// Nothing here does I/O or keeps a session; it is pure and unit-tested
// against every encoding rule. Malformed input yields INVALID_ARGUMENT with a
// bounded "reason" (see MalformedReason) that callers use as a metric label.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace iss::tlcp {

// Server -> client notifications we know. kUnknown: any other tag.
enum class MessageType {
  kConok,
  kServname,
  kClientip,
  kCons,
  kSubok,
  kSubcmd,
  kUnsub,
  kReqok,
  kReqerr,
  kConf,
  kUpdate,
  kEos,
  kCs,
  kOv,
  kProbe,
  kLoop,
  kSync,
  kNoop,
  kProg,
  kMsgdone,
  kMsgfail,
  kEnd,
  kConerr,
  kError,
  kWsok,
  kUnknown,
};
// The protocol tag ("CONOK", "U", ...) or "unknown": a bounded metric label.
std::string_view MessageTypeName(MessageType type);

// One notification line, split. `args` view into the line passed to
// ParseMessage (which must outlive the Message). For U lines the third
// argument is the whole value part: values may not be split on commas.
struct Message {
  MessageType type = MessageType::kUnknown;
  std::string_view tag;
  std::vector<std::string_view> args;
};

// Lines longer than this are malformed (a runaway line must not grow memory).
inline constexpr size_t kMaxLineBytes = 1 << 20;

// Parses one line (without its CR LF). Checks the argument count of every
// known message; numeric arguments are checked by the accessors below.
// Errors carry a reason: "empty", "bad_args".
absl::StatusOr<Message> ParseMessage(std::string_view line);

// A decimal argument in [min, max]; reason "bad_number".
absl::StatusOr<int64_t> ParseIntArg(std::string_view arg, int64_t min, int64_t max);

// The reason attached to a malformed-input status, a short label such as
// "bad_escape" ("other" when none is attached).
std::string MalformedReason(const absl::Status& status);
// INVALID_ARGUMENT with `reason` attached and `detail` as the message.
absl::Status Malformed(std::string_view reason, std::string_view detail);

// Splits a byte stream (WebSocket frames) into CR LF terminated lines, joining
// a line that spans two frames. Bare LF also ends a line.
class LineSplitter {
 public:
  // Appends `data`; complete lines are appended to `lines`. A pending partial
  // line longer than kMaxLineBytes is dropped and counted in overflowed().
  void Feed(std::string_view data, std::vector<std::string>* lines);
  // Bytes of an unterminated line waiting for the rest.
  size_t pending() const { return partial_.size(); }
  void Reset() { partial_.clear(); }
  uint64_t overflowed() const { return overflowed_; }

 private:
  std::string partial_;
  uint64_t overflowed_ = 0;
};

// The current field values of one item; nullopt = null (or never sent).
using FieldValues = std::vector<std::optional<std::string>>;

// Applies the value part of a U line to `state`, whose size is the
// subscription's field count. Rules (TLCP "compact" encoding):
//   empty            -> field unchanged
//   "#"              -> null
//   "$"              -> empty string
//   "^N"             -> N fields unchanged, this one included
//   "^P..." "^T..."  -> a JSON Patch / TLCP-diff of the previous value
//                       (TLCP >= 2.4): refused, "diff_not_negotiated" (the
//                       client asks for no diff format in create_session)
//   anything else    -> the percent-decoded value (must be valid UTF-8);
//                       "#abc" is the text "#abc": only a whole "#" is null
// All or nothing: on error `state` is untouched. `changed` (optional) gets
// one flag per field. Reasons: "bad_escape", "bad_utf8", "field_count",
// "bad_skip", "diff_not_negotiated".
absl::Status ApplyUpdate(std::string_view values, FieldValues& state,
                         std::vector<bool>* changed = nullptr);

// %XX -> byte; the result must be valid UTF-8. Reasons "bad_escape", "bad_utf8".
absl::StatusOr<std::string> PercentDecode(std::string_view text);

// The text argument of a notification (SERVNAME, the messages of CONERR,
// END, REQERR and ERROR, CONOK's control link), percent-decoded. Text that
// does not decode (a stray '%', bytes that are not UTF-8) is kept as it came:
// these arguments are for people, and must never cost the session.
std::string DecodeText(std::string_view arg);

// Where CONOK's 4th argument asks binds and new sockets to go ("*" = the
// address already in use). Forms: host, host:port, host/prefix,
// host:port/prefix, an IPv4 address, [IPv6]:port, optionally after a
// "http://" or "https://" scheme (ignored: the transport stays what it is).
// `path` is the prefix ("" or "/prefix") the client puts before
// "/lightstreamer". Reason "bad_control_link".
struct ControlLink {
  std::string host;  // without brackets for IPv6
  int port = 0;      // 0 = the port of the address in use
  std::string path;
};
absl::StatusOr<ControlLink> ParseControlLink(std::string_view link);

// Server side: one field value as it travels in a U line. Escapes only what
// the specification requires: '%', the separator '|', control characters
// (CR and LF among them), and a leading '#', '$' or '^' (which would read as
// null, empty or a skip). Everything else travels as is: '#', '$', '^', '+'
// and ',' inside a value, and all other UTF-8.
std::string EncodeValue(std::string_view value);

// Server side: the value part of a U line taking `next` from `prev` (nullptr:
// nothing sent yet, every field is written). Unchanged fields are empty, runs
// of two or more unchanged fields become "^N".
std::string EncodeUpdate(const FieldValues* prev, const FieldValues& next);

// Request parameters: application/x-www-form-urlencoded pairs.
std::string FormEncode(std::string_view text);
std::string FormatParams(const std::vector<std::pair<std::string, std::string>>& params);
// Parses "a=1&b=x%20y" (also '+' as space). Reason "bad_params".
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseParams(std::string_view text);

}  // namespace iss::tlcp
