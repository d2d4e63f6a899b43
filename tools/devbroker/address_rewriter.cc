#include "tools/devbroker/address_rewriter.h"

#include "absl/strings/str_cat.h"

namespace iss::devbroker {
namespace {

constexpr int16_t kMetadata = 3;
constexpr int16_t kFindCoordinator = 10;
constexpr int16_t kMaxVersion = 2;  // of both, as the mock cluster offers them

// Big-endian reads over one frame; every read checks the bounds.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool Int16(int16_t* v) { return Int(v); }
  bool Int32(int32_t* v) { return Int(v); }
  // A (nullable) string: int16 length, -1 = null. Only skipped or read here.
  bool String(std::string_view* s) {
    int16_t n = 0;
    if (!Int16(&n)) return false;
    if (n < 0) {
      *s = {};
      return true;
    }
    if (data_.size() - pos_ < static_cast<size_t>(n)) return false;
    *s = data_.substr(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return true;
  }
  size_t pos() const { return pos_; }
  std::string_view rest() const { return data_.substr(pos_); }

 private:
  template <typename T>
  bool Int(T* v) {
    if (data_.size() - pos_ < sizeof(T)) return false;
    uint32_t x = 0;
    for (size_t i = 0; i < sizeof(T); ++i) x = (x << 8) | static_cast<uint8_t>(data_[pos_ + i]);
    *v = static_cast<T>(x);
    pos_ += sizeof(T);
    return true;
  }
  std::string_view data_;
  size_t pos_ = 0;
};

void PutInt16(std::string* out, int16_t v) {
  const auto u = static_cast<uint16_t>(v);
  out->push_back(static_cast<char>(u >> 8));
  out->push_back(static_cast<char>(u & 0xff));
}
void PutInt32(std::string* out, int32_t v) {
  const auto u = static_cast<uint32_t>(v);
  for (int shift = 24; shift >= 0; shift -= 8)
    out->push_back(static_cast<char>((u >> shift) & 0xff));
}
void PutString(std::string* out, std::string_view s) {
  PutInt16(out, static_cast<int16_t>(s.size()));
  out->append(s);
}

// Splits complete frames off the front of *buf (int32 length + payload).
// Returns false with *status set on a length no Kafka peer sends.
bool NextFrame(std::string* buf, std::string* frame, absl::Status* status) {
  if (buf->size() < 4) return false;
  int32_t n = 0;
  Reader(*buf).Int32(&n);
  if (n < 0 || static_cast<size_t>(n) > AddressRewriter::kMaxFrameBytes) {
    *status = absl::InvalidArgumentError(absl::StrCat("Kafka frame of ", n, " bytes"));
    return false;
  }
  if (buf->size() < 4 + static_cast<size_t>(n)) return false;
  frame->assign(*buf, 4, static_cast<size_t>(n));
  buf->erase(0, 4 + static_cast<size_t>(n));
  return true;
}

absl::Status Malformed(int16_t api_key, int16_t version) {
  return absl::InvalidArgumentError(
      absl::StrCat("malformed response to API ", api_key, " v", version));
}

}  // namespace

absl::Status AddressRewriter::FromClient(std::string_view bytes, std::string* out) {
  from_client_.append(bytes);
  std::string frame;
  absl::Status status;
  while (NextFrame(&from_client_, &frame, &status)) {
    Reader r(frame);
    int16_t api_key = 0, version = 0;
    int32_t correlation = 0;
    if (!r.Int16(&api_key) || !r.Int16(&version) || !r.Int32(&correlation)) {
      return absl::InvalidArgumentError("request frame shorter than its header");
    }
    if (api_key == kMetadata || api_key == kFindCoordinator) {
      if (version > kMaxVersion) {
        return absl::UnimplementedError(
            absl::StrCat("API ", api_key, " v", version,
                         ": the broker addresses in its answer cannot be "
                         "rewritten (v0-v",
                         kMaxVersion, " only)"));
      }
      pending_[correlation] = {api_key, version};
    }
    PutInt32(out, static_cast<int32_t>(frame.size()));
    out->append(frame);
  }
  return status;
}

absl::Status AddressRewriter::FromBroker(std::string_view bytes, std::string* out) {
  from_broker_.append(bytes);
  std::string frame;
  absl::Status status;
  while (NextFrame(&from_broker_, &frame, &status)) {
    int32_t correlation = 0;
    if (!Reader(frame).Int32(&correlation)) {
      return absl::InvalidArgumentError("response frame shorter than its header");
    }
    auto it = pending_.find(correlation);
    if (it == pending_.end()) {  // names no broker: as it came
      PutInt32(out, static_cast<int32_t>(frame.size()));
      out->append(frame);
      continue;
    }
    const auto [api_key, version] = it->second;
    pending_.erase(it);
    if (absl::Status s = Rewrite(api_key, version, frame, out); !s.ok()) return s;
  }
  return status;
}

absl::Status AddressRewriter::Rewrite(int16_t api_key, int16_t version, std::string_view frame,
                                      std::string* out) {
  Reader r(frame);
  std::string body;  // the rewritten frame, without its length
  int32_t correlation = 0;
  r.Int32(&correlation);
  PutInt32(&body, correlation);

  // One broker entry: node id, host, port; advertised when the id is known.
  auto broker = [&](Reader& in) {
    int32_t node = 0, port = 0;
    std::string_view host;
    if (!in.Int32(&node) || !in.String(&host) || !in.Int32(&port)) return false;
    PutInt32(&body, node);
    if (auto a = brokers_->find(node); a != brokers_->end()) {
      PutString(&body, a->second.host);
      PutInt32(&body, a->second.port);
    } else {  // e.g. node -1 in an error answer
      PutString(&body, host);
      PutInt32(&body, port);
    }
    return true;
  };

  if (api_key == kMetadata) {
    int32_t count = 0;
    if (!r.Int32(&count) || count < 0) return Malformed(api_key, version);
    PutInt32(&body, count);
    for (int32_t i = 0; i < count; ++i) {
      if (!broker(r)) return Malformed(api_key, version);
      if (version >= 1) {  // rack, a nullable string: copied as it is
        const size_t start = r.pos();
        std::string_view rack;
        if (!r.String(&rack)) return Malformed(api_key, version);
        body.append(frame.substr(start, r.pos() - start));
      }
    }
  } else {  // FindCoordinator
    const size_t start = r.pos();
    int32_t throttle = 0;
    int16_t error = 0;
    std::string_view message;
    if (version >= 1 && !r.Int32(&throttle)) return Malformed(api_key, version);
    if (!r.Int16(&error)) return Malformed(api_key, version);
    if (version >= 1 && !r.String(&message)) return Malformed(api_key, version);
    body.append(frame.substr(start, r.pos() - start));
    if (!broker(r)) return Malformed(api_key, version);
  }
  body.append(r.rest());  // topics, controller id, ...: unchanged
  PutInt32(out, static_cast<int32_t>(body.size()));
  out->append(body);
  return absl::OkStatus();
}

}  // namespace iss::devbroker
