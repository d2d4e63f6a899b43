// Fuzzes the TLCP client's input path: WebSocket bytes -> LineSplitter ->
// ParseMessage -> (U lines) ApplyUpdate on a six-field item state, plus the
// request-parameter parser. Property: any state the decoder accepts survives
// the server-side encoding and decoding again unchanged.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tlcp/codec.h"

using iss::tlcp::FieldValues;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // Two frames, split where the first byte says, so lines cross frame edges.
  const size_t cut = size == 0 ? 0 : data[0] % (size + 1);
  iss::tlcp::LineSplitter splitter;
  std::vector<std::string> lines;
  splitter.Feed(input.substr(0, cut), &lines);
  splitter.Feed(input.substr(cut), &lines);

  FieldValues state(6);
  for (const std::string& line : lines) {
    auto msg = iss::tlcp::ParseMessage(line);
    if (!msg.ok()) continue;
    if (msg->type == iss::tlcp::MessageType::kUpdate && msg->args.size() >= 3) {
      FieldValues before = state;
      std::vector<bool> changed;
      if (!iss::tlcp::ApplyUpdate(msg->args[2], state, &changed).ok()) {
        if (state != before) __builtin_trap();  // all or nothing
        continue;
      }
      FieldValues again(6);
      if (!iss::tlcp::ApplyUpdate(iss::tlcp::EncodeUpdate(nullptr, state), again).ok()) {
        __builtin_trap();
      }
      if (again != state) __builtin_trap();
    }
  }
  (void)iss::tlcp::ParseParams(input);
  (void)iss::tlcp::PercentDecode(input);
  return 0;
}
