#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/json_string.h"
#include "gateway/json_printer.h"
#include "gateway/json_values.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/time_util.h"

// FastWireToJson (declared in json_printer.h): the same JSON as
// FastMessageToJson, straight from the serialized bytes.
// The helpers live in json_internal, beside what json_values.h declares.
namespace iss::gateway::json_internal {
namespace {

// ---------------------------------------------------------------------------
// Straight from the wire format. Each message type gets a plan once (fields in
// declaration order with their JSON keys, a field-number index, well-known
// kind); a message is printed by listing its fields' occurrences in the bytes,
// ordering them by declaration, and writing what parsing + AppendMessage would
// have written. Anything where parsing could do more than "the last value wins
// / repeated values concatenate" (a singular message or oneof seen twice, maps,
// proto2, groups, bad wire types, invalid UTF-8, malformed bytes, deep
// nesting) makes the printer decline, and the caller parses instead.

struct MsgPlan;

enum class Encoding { kVarint, kFixed64, kFixed32, kBytes };

Encoding EncodingOf(FieldDescriptor::Type t) {
  switch (t) {
    case FieldDescriptor::TYPE_DOUBLE:
    case FieldDescriptor::TYPE_FIXED64:
    case FieldDescriptor::TYPE_SFIXED64:
      return Encoding::kFixed64;
    case FieldDescriptor::TYPE_FLOAT:
    case FieldDescriptor::TYPE_FIXED32:
    case FieldDescriptor::TYPE_SFIXED32:
      return Encoding::kFixed32;
    case FieldDescriptor::TYPE_STRING:
    case FieldDescriptor::TYPE_BYTES:
    case FieldDescriptor::TYPE_MESSAGE:
    case FieldDescriptor::TYPE_GROUP:
      return Encoding::kBytes;
    default:
      return Encoding::kVarint;
  }
}

struct FieldPlan {
  const FieldDescriptor* f = nullptr;
  std::string key;  // ",\"jsonName\":" (without the comma for a first field)
  FieldDescriptor::Type type{};
  Encoding enc = Encoding::kVarint;  // EncodingOf(type), once per plan
  bool repeated = false;
  bool presence = false;
  int oneof = -1;                // index of its real oneof, or -1
  const MsgPlan* sub = nullptr;  // message fields
};

struct MsgPlan {
  const Descriptor* d = nullptr;
  WellKnown wk = Descriptor::WELLKNOWNTYPE_UNSPECIFIED;
  bool ok = true;  // printable from the wire
  std::vector<FieldPlan> fields;
  std::vector<int16_t> by_number;  // field number -> index in `fields`, -1 none
};

class PlanCache {
 public:
  // Plans never change once built: each thread remembers the answer, so the
  // lock is taken once per type and thread, not once per response.
  const MsgPlan* Get(const Descriptor* d) {
    thread_local absl::flat_hash_map<const Descriptor*, const MsgPlan*> known;
    if (auto it = known.find(d); it != known.end()) return it->second;
    const MsgPlan* p;
    {
      absl::MutexLock lock(&mu_);
      p = Build(d);
    }
    const MsgPlan* usable = p->ok ? p : nullptr;
    known.emplace(d, usable);
    return usable;
  }

 private:
  MsgPlan* Build(const Descriptor* d) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto& slot = plans_[d];
    if (slot) return slot.get();
    slot = std::make_unique<MsgPlan>();
    MsgPlan* p = slot.get();  // stays put: the map holds pointers
    p->d = d;
    p->wk = d->well_known_type();
    absl::flat_hash_map<const Descriptor*, bool> seen;
    p->ok = d->file()->syntax() == google::protobuf::FileDescriptor::SYNTAX_PROTO3 &&
            Supported(d, seen) && d->oneof_decl_count() <= 16 && d->field_count() < 30000;
    int max_number = 0;
    for (int i = 0; p->ok && i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      if (f->is_map() || f->type() == FieldDescriptor::TYPE_GROUP) p->ok = false;
      if (f->type() == FieldDescriptor::TYPE_ENUM &&
          f->enum_type()->file()->syntax() != google::protobuf::FileDescriptor::SYNTAX_PROTO3) {
        p->ok = false;  // a closed enum: parsing moves unknown numbers aside
      }
      max_number = std::max(max_number, f->number());
    }
    if (!p->ok || max_number > 4096) {
      p->ok = false;
      return p;
    }
    p->by_number.assign(static_cast<size_t>(max_number) + 1, -1);
    p->fields.resize(static_cast<size_t>(d->field_count()));
    for (int i = 0; i < d->field_count(); ++i) {
      const FieldDescriptor* f = d->field(i);
      FieldPlan& fp = p->fields[static_cast<size_t>(i)];
      fp.f = f;
      fp.key = absl::StrCat(",\"", f->json_name(), "\":");
      fp.type = f->type();
      fp.enc = EncodingOf(fp.type);
      fp.repeated = f->is_repeated();
      fp.presence = f->has_presence();
      if (const auto* o = f->real_containing_oneof()) fp.oneof = o->index();
      p->by_number[static_cast<size_t>(f->number())] = static_cast<int16_t>(i);
    }
    for (FieldPlan& fp : p->fields) {  // after this plan is complete: types may recurse
      if (fp.type != FieldDescriptor::TYPE_MESSAGE) continue;
      fp.sub = Build(fp.f->message_type());
      if (!fp.sub->ok) p->ok = false;
    }
    return p;
  }

  absl::Mutex mu_;
  absl::flat_hash_map<const Descriptor*, std::unique_ptr<MsgPlan>> plans_ ABSL_GUARDED_BY(mu_);
};

PlanCache& Plans() {
  static auto* cache = new PlanCache();
  return *cache;
}

// One occurrence of a field in a message's bytes: a scalar (varint or fixed
// bits) or a length-delimited span (strings, bytes, messages, packed runs).
struct Occurrence {
  int32_t field;  // index in the plan
  uint8_t wire;   // 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32
  uint64_t bits;
  const char* data;
  uint32_t size;
};

bool ReadVarint(const char*& p, const char* end, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift < 70; shift += 7) {
    if (p == end) return false;
    const auto b = static_cast<uint8_t>(*p++);
    if (shift == 63 && b > 1) return false;  // more than 64 bits: leave it to protobuf
    result |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) {
      *v = result;
      return true;
    }
  }
  return false;
}

uint64_t ReadFixed(const char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

class WirePrinter {
 public:
  explicit WirePrinter(std::string& out) : out_(out) {}

  bool Message(const MsgPlan& plan, const char* p, const char* end, int depth) {
    if (depth > 64) return false;
    const size_t begin = occ_.size();
    if (!Collect(plan, p, end)) return false;
    const size_t stop = occ_.size();
    // Serializers write fields in number order; declaration order usually agrees.
    const auto first = occ_.begin() + static_cast<ptrdiff_t>(begin);
    const auto last = occ_.begin() + static_cast<ptrdiff_t>(stop);
    auto by_field = [](const Occurrence& a, const Occurrence& b) { return a.field < b.field; };
    if (!std::is_sorted(first, last, by_field)) std::stable_sort(first, last, by_field);
    const bool ok = Emit(plan, begin, stop, depth);
    occ_.resize(begin);
    return ok;
  }

 private:
  bool Collect(const MsgPlan& plan, const char* p, const char* end) {
    while (p < end) {
      uint64_t tag;
      if (!ReadVarint(p, end, &tag) || tag > 0xffffffffu) return false;
      const uint64_t number = tag >> 3;
      const auto wire = static_cast<uint8_t>(tag & 7);
      if (number == 0) return false;
      Occurrence o{-1, wire, 0, nullptr, 0};
      switch (wire) {
        case 0:
          if (!ReadVarint(p, end, &o.bits)) return false;
          break;
        case 1:
          if (end - p < 8) return false;
          o.bits = ReadFixed(p, 8);
          p += 8;
          break;
        case 5:
          if (end - p < 4) return false;
          o.bits = ReadFixed(p, 4);
          p += 4;
          break;
        case 2: {
          uint64_t len;
          if (!ReadVarint(p, end, &len) || len > static_cast<uint64_t>(end - p) ||
              len > 0x7fffffff) {
            return false;
          }
          o.data = p;
          o.size = static_cast<uint32_t>(len);
          p += len;
          break;
        }
        default:
          return false;  // groups and invalid wire types
      }
      if (number >= plan.by_number.size() || plan.by_number[number] < 0) continue;  // unknown
      o.field = plan.by_number[number];
      const FieldPlan& fp = plan.fields[static_cast<size_t>(o.field)];
      const Encoding enc = fp.enc;
      const bool match = (enc == Encoding::kVarint && wire == 0) ||
                         (enc == Encoding::kFixed64 && wire == 1) ||
                         (enc == Encoding::kFixed32 && wire == 5) ||
                         (wire == 2 && (enc == Encoding::kBytes || fp.repeated));
      if (!match) return false;
      // Parsing checks every string it meets, also those a later value replaces.
      if (fp.type == FieldDescriptor::TYPE_STRING &&
          !google::protobuf::internal::IsStructurallyValidUTF8(o.data, static_cast<int>(o.size))) {
        return false;
      }
      // Member by member: building it whole on the stack and copying it in
      // stalls on store forwarding (measured: half of this loop's time).
      Occurrence& slot = occ_.emplace_back();
      slot.field = o.field;
      slot.wire = o.wire;
      slot.bits = o.bits;
      slot.data = o.data;
      slot.size = o.size;
    }
    return p == end;
  }

  bool Emit(const MsgPlan& plan, size_t begin, size_t stop, int depth) {
    // A real oneof with two different members set: parsing keeps the last one.
    if (plan.d->oneof_decl_count() > 0) {
      int member[16];
      std::fill(member, member + 16, -1);
      for (size_t i = begin; i < stop; ++i) {
        const int o = plan.fields[static_cast<size_t>(occ_[i].field)].oneof;
        if (o < 0) continue;
        if (member[o] >= 0 && member[o] != occ_[i].field) return false;
        member[o] = occ_[i].field;
      }
    }
    switch (plan.wk) {
      case Descriptor::WELLKNOWNTYPE_TIMESTAMP:
      case Descriptor::WELLKNOWNTYPE_DURATION: {
        const int64_t secs = static_cast<int64_t>(Last(begin, stop, 0, 0));
        const auto nanos = static_cast<int32_t>(Last(begin, stop, 1, 0));
        if (plan.wk == Descriptor::WELLKNOWNTYPE_TIMESTAMP) {
          AppendTimestamp(out_, secs, nanos, &dates_);
        } else {
          google::protobuf::Duration du;
          du.set_seconds(secs);
          du.set_nanos(nanos);
          absl::StrAppend(&out_, "\"", google::protobuf::util::TimeUtil::ToString(du), "\"");
        }
        return true;
      }
      case Descriptor::WELLKNOWNTYPE_FIELDMASK: {
        std::string joined;
        bool any = false;
        for (size_t i = begin; i < stop; ++i) {
          if (occ_[i].field != 0) continue;
          const std::string_view path(occ_[i].data, occ_[i].size);  // UTF-8: checked
          if (any) joined += ",";
          any = true;
          joined += CamelPath(std::string(path));
        }
        AppendJsonString(out_, joined);
        return true;
      }
      default:
        break;
    }
    if (IsWrapper(plan.d)) return Field(plan.fields[0], begin, stop, depth, /*bare=*/true);
    out_.push_back('{');
    bool first = true;
    size_t i = begin;
    for (int fi = 0; fi < static_cast<int>(plan.fields.size()); ++fi) {
      const FieldPlan& fp = plan.fields[static_cast<size_t>(fi)];
      size_t j = i;
      while (j < stop && occ_[j].field == fi) ++j;
      if (!fp.repeated && fp.presence && j == i) continue;
      out_.append(fp.key.data() + (first ? 1 : 0), fp.key.size() - (first ? 1 : 0));
      first = false;
      if (!Field(fp, i, j, depth, false)) return false;
      i = j;
    }
    out_.push_back('}');
    return true;
  }

  // The last scalar of field index `field` among [begin, stop), or `def`.
  uint64_t Last(size_t begin, size_t stop, int field, uint64_t def) const {
    uint64_t v = def;
    for (size_t i = begin; i < stop; ++i) {
      if (occ_[i].field == field && occ_[i].wire != 2) v = occ_[i].bits;
    }
    return v;
  }

  // Field `fp` whose occurrences are [begin, stop) (sorted: all of this field).
  // For a wrapper (`bare`) the range may hold nothing else but may be empty.
  bool Field(const FieldPlan& fp, size_t begin, size_t stop, int depth, bool bare) {
    if (bare) {  // wrapper: the value field only (other numbers were skipped)
      size_t b = begin;
      while (b < stop && occ_[b].field != 0) ++b;
      begin = b;
    }
    if (fp.repeated) {
      out_.push_back('[');
      bool first = true;
      for (size_t i = begin; i < stop; ++i) {
        const Occurrence o = occ_[i];  // copy: nested messages grow occ_
        if (o.wire == 2 && fp.enc != Encoding::kBytes) {
          if (!Packed(fp, o, first)) return false;
          continue;
        }
        if (!first) out_.push_back(',');
        first = false;
        if (!One(fp, o, depth)) return false;
      }
      out_.push_back(']');
      return true;
    }
    if (begin == stop) return Default(fp);
    if (fp.type == FieldDescriptor::TYPE_MESSAGE && stop - begin > 1) return false;  // merged
    const Occurrence o = occ_[stop - 1];  // the last one wins
    return One(fp, o, depth);
  }

  bool Packed(const FieldPlan& fp, const Occurrence& run, bool& first) {
    const char* p = run.data;
    const char* end = p + run.size;
    const Encoding enc = fp.enc;
    while (p < end) {
      Occurrence o{0, 0, 0, nullptr, 0};
      if (enc == Encoding::kVarint) {
        if (!ReadVarint(p, end, &o.bits)) return false;
      } else {
        const int n = enc == Encoding::kFixed64 ? 8 : 4;
        if (end - p < n) return false;
        o.bits = ReadFixed(p, n);
        p += n;
      }
      if (!first) out_.push_back(',');
      first = false;
      if (!One(fp, o, 0)) return false;
    }
    return true;
  }

  bool Default(const FieldPlan& fp) {
    switch (fp.type) {
      case FieldDescriptor::TYPE_STRING:
      case FieldDescriptor::TYPE_BYTES:
        out_ += "\"\"";
        return true;
      case FieldDescriptor::TYPE_MESSAGE:
      case FieldDescriptor::TYPE_GROUP:
        return false;  // has presence: never printed when absent
      default: {
        const Occurrence zero{0, 0, 0, nullptr, 0};
        return One(fp, zero, 0);
      }
    }
  }

  bool One(const FieldPlan& fp, const Occurrence& o, int depth) {
    const uint64_t b = o.bits;
    switch (fp.type) {
      case FieldDescriptor::TYPE_INT32:
      case FieldDescriptor::TYPE_SFIXED32:
        AppendInt(out_, static_cast<int32_t>(b), false);
        return true;
      case FieldDescriptor::TYPE_SINT32: {
        const auto u = static_cast<uint32_t>(b);
        AppendInt(out_, static_cast<int32_t>((u >> 1) ^ (~(u & 1) + 1)), false);
        return true;
      }
      case FieldDescriptor::TYPE_UINT32:
      case FieldDescriptor::TYPE_FIXED32:
        AppendInt(out_, static_cast<uint32_t>(b), false);
        return true;
      case FieldDescriptor::TYPE_INT64:
      case FieldDescriptor::TYPE_SFIXED64:
        AppendInt(out_, static_cast<int64_t>(b), true);
        return true;
      case FieldDescriptor::TYPE_SINT64:
        AppendInt(out_, static_cast<int64_t>((b >> 1) ^ (~(b & 1) + 1)), true);
        return true;
      case FieldDescriptor::TYPE_UINT64:
      case FieldDescriptor::TYPE_FIXED64:
        AppendInt(out_, b, true);
        return true;
      case FieldDescriptor::TYPE_DOUBLE: {
        double d;
        std::memcpy(&d, &b, sizeof(d));
        AppendDouble(out_, d);
        return true;
      }
      case FieldDescriptor::TYPE_FLOAT: {
        const auto u = static_cast<uint32_t>(b);
        float f;
        std::memcpy(&f, &u, sizeof(f));
        AppendFloat(out_, f);
        return true;
      }
      case FieldDescriptor::TYPE_BOOL:
        out_ += b != 0 ? "true" : "false";
        return true;
      case FieldDescriptor::TYPE_ENUM: {
        const auto n = static_cast<int32_t>(b);
        if (const auto* ev = fp.f->enum_type()->FindValueByNumber(n)) {
          out_.push_back('"');
          out_ += ev->name();
          out_.push_back('"');
        } else {
          AppendInt(out_, n, false);
        }
        return true;
      }
      case FieldDescriptor::TYPE_STRING:  // UTF-8 checked when collected
        AppendJsonString(out_, std::string_view(o.data, o.size));
        return true;
      case FieldDescriptor::TYPE_BYTES:
        out_.push_back('"');
        out_ += absl::Base64Escape(absl::string_view(o.data, o.size));
        out_.push_back('"');
        return true;
      case FieldDescriptor::TYPE_MESSAGE:
        return fp.sub->ok && Message(*fp.sub, o.data, o.data + o.size, depth + 1);
      default:
        return false;
    }
  }

  std::string& out_;
  std::vector<Occurrence> occ_;
  DateCache dates_;
};

}  // namespace
}  // namespace iss::gateway::json_internal

namespace iss::gateway {

bool FastWireToJson(const google::protobuf::Descriptor* type, std::string_view wire,
                    std::string* out) {
  const json_internal::MsgPlan* plan = json_internal::Plans().Get(type);
  if (plan == nullptr) return false;
  const size_t size = out->size();
  json_internal::WirePrinter printer(*out);
  if (printer.Message(*plan, wire.data(), wire.data() + wire.size(), 0)) return true;
  out->resize(size);
  return false;
}

}  // namespace iss::gateway
